//! The study's reference frame and how each time point is brought into it.
//!
//! Responsibility: choose the grid every map lives on, and per time point decide and run the
//! alignment (by CT, by emission image, or by patient coordinates), then resample the image
//! onto that grid. The registration methods themselves are in [`super::register`].
//!
//! Units: mm (patient LPS), HU for CT, the image's own activity unit (converted later).
//!
//! **With a reference CT** (`reference_ct` in the study file): the frame is the reference
//! CT's; the grid is the reference CT's extent and placement with voxels of the first scan's
//! largest spacing (activity is not resolved better than the emission images; the transport
//! may take the CT's HU onto this grid). A time point with its own CT (`ct`, acquired with
//! that SPECT on the same table, so sharing its frame) is aligned CT to CT: rigid NMI of the
//! time-point CT to the reference CT (`registration: "rigid"`), followed by an elastix
//! B-spline CT to CT with transformix applying it to the SPECT (`"deformable"`); the SPECT
//! is resampled through the transform. A time point without a CT is registered to the first
//! scan as brought into the frame (emission to emission, as without a reference CT).
//! Labels are defined on the reference CT (any grid in its frame) and taken by nearest label
//! onto the grid, so every aligned frame shares them.
//!
//! **Without a reference CT**: the first scan of the first cycle is the reference, its grid
//! the grid, and every other scan is registered to it (the behaviour before reference CTs
//! existed); a time-point `ct` is then refused, since there is nothing to align it to.
//!
//! **CT intensities for NMI** are HU + 1024, clamped at 0, so that air is ≈ 0 and the
//! centre-of-mass start of [`register::register_rigid`] weighs the body, not the air.

use super::register::{self, RigidOptions, RigidResult, RigidTransform};
use super::scan::{read_scan, DicomScan, Scan};
use super::study::{ActivityUnit, Cycle, Registration, Study, TimePoint};
use super::KineticsError;
use crate::geometry::resample::trilinear_through;
use crate::geometry::{Grid, Volume};
use crate::Result;
use std::path::Path;

/// Where the study's maps live.
#[derive(Clone, Debug)]
pub struct ReferenceFrame {
    /// The grid of every map (TIA, σ, labels).
    pub grid: Grid,
    /// The reference CT in HU on its own grid, when the study names one.
    pub ct: Option<Volume<f32>>,
    /// The first scan of the first cycle on `grid`: the target of emission-to-emission
    /// registration.
    pub first_scan: Volume<f32>,
    /// The unit of `first_scan`'s values.
    pub first_unit: ActivityUnit,
    /// The first scan's DICOM record (`None` for NIfTI): its camera gives GTM's PSF when
    /// the study gives none.
    pub first_dicom: Option<DicomScan>,
    /// FrameOfReferenceUID of the frame: the reference CT's when the study has one, else the
    /// first scan's; empty when that image is NIfTI (then not checked).
    pub frame_of_reference_uid: String,
    /// How the frame was chosen, for the log.
    pub note: String,
}

/// How one time point was aligned.
#[derive(Clone, Debug)]
pub struct Aligned {
    /// The image on the reference grid, in `unit`.
    pub image: Volume<f32>,
    /// The unit of `image`'s values.
    pub unit: ActivityUnit,
    /// The DICOM record of the time point (`None` for NIfTI).
    pub dicom: Option<DicomScan>,
    /// The rigid registration, when one ran.
    pub rigid: Option<RigidResult>,
    /// What was done, in words.
    pub method: String,
}

/// HU + 1024 clamped at 0 (see the module doc).
fn ct_for_nmi(hu: &Volume<f32>) -> Volume<f32> {
    Volume {
        grid: hu.grid.clone(),
        data: hu.data.iter().map(|&h| (h + 1024.0).max(0.0)).collect(),
    }
}

fn on_grid(vol: &Volume<f32>, t: &RigidTransform, grid: &Grid) -> Volume<f32> {
    if vol.grid == *grid && t.rotation_deg == [0.0; 3] && t.translation_mm == [0.0; 3] {
        vol.clone()
    } else {
        trilinear_through(vol, t, grid)
    }
}

impl ReferenceFrame {
    /// Builds the frame of `study` (reads the reference CT and the first scan); `work` is a
    /// scratch folder for elastix.
    pub fn build(study: &Study, work: &Path) -> Result<ReferenceFrame> {
        let first = &study.cycles[0].time_points[0];
        let Scan {
            image: first_image,
            unit: first_unit,
            dicom: first_dicom,
        } = read_scan(study, &study.cycles[0], 1, first)?;
        let first_uid = first_dicom
            .as_ref()
            .map_or(String::new(), |d| d.frame_of_reference_uid.clone());
        let Some(ct_path) = &study.reference_ct else {
            if let Some((cn, tn)) = first_time_point_ct(study) {
                return Err(KineticsError::InvalidStudy {
                    path: study.path.clone(),
                    reason: format!("cycle {cn}, time point {tn} names a \"ct\" but the study has no \"reference_ct\" to align it to; add \"reference_ct\" (e.g. the CT of the first scan) or drop the time-point CTs"),
                }
                .into());
            }
            return Ok(ReferenceFrame {
                grid: first_image.grid.clone(),
                ct: None,
                note: format!(
                    "no reference CT: time points aligned to the first scan ({}), on its grid",
                    first.image.display()
                ),
                first_scan: first_image,
                first_unit,
                first_dicom,
                frame_of_reference_uid: first_uid,
            });
        };
        let ct_image = crate::io::ct::read_ct(ct_path)?;
        let ct = ct_image.hu;
        let ct_uid = ct_image.identity.frame_of_reference_uid;
        let voxel_mm = first_image
            .grid
            .spacing_mm
            .iter()
            .copied()
            .fold(0.0, f64::max);
        let grid = ct.grid.coarsened(voxel_mm);
        let mut frame = ReferenceFrame {
            note: format!(
                "reference CT {}: maps on its extent with {voxel_mm:.2} mm voxels ({:?}); time points with a CT aligned CT to CT, others to the first scan",
                ct_path.display(),
                grid.dims
            ),
            grid: grid.clone(),
            ct: Some(ct),
            first_scan: Volume::filled(grid, 0.0),
            first_unit,
            first_dicom: first_dicom.clone(),
            frame_of_reference_uid: ct_uid,
        };
        let scan = Scan {
            image: first_image,
            unit: first_unit,
            dicom: first_dicom,
        };
        let a = frame.align_with_ct(study, first, scan, &work.join("elastix_first"))?;
        frame.first_scan = a.image;
        Ok(frame)
    }

    /// Brings one time point's image onto the grid (see the module doc).
    /// `tn` is the time point's number in `cycle` (1-based).
    pub fn align(
        &self,
        study: &Study,
        cycle: &Cycle,
        tn: usize,
        is_first: bool,
        work: &Path,
    ) -> Result<Aligned> {
        if is_first {
            return Ok(Aligned {
                image: self.first_scan.clone(),
                unit: self.first_unit,
                dicom: self.first_dicom.clone(),
                rigid: None,
                method: "reference scan".into(),
            });
        }
        let tp = &cycle.time_points[tn - 1];
        let scan = read_scan(study, cycle, tn, tp)?;
        if self.ct.is_some() && tp.ct.is_some() {
            return self.align_with_ct(study, tp, scan, work);
        }
        let Scan { image, unit, dicom } = scan;
        let identity = RigidTransform::identity([0.0; 3]);
        match study.registration {
            Registration::None => Ok(Aligned {
                image: on_grid(&image, &identity, &self.grid),
                unit,
                dicom,
                rigid: None,
                method: "patient coordinates (registration none)".into(),
            }),
            Registration::Rigid | Registration::Deformable => {
                let r = register::register_rigid(&self.first_scan, &image, RigidOptions::default());
                let mut out = trilinear_through(&image, &r.transform, &self.grid);
                let mut method = "rigid NMI to the first scan".to_string();
                if study.registration == Registration::Deformable {
                    out = register::elastix_deformable(&self.first_scan, &out, work)?;
                    method.push_str(", then elastix B-spline");
                }
                Ok(Aligned {
                    image: out,
                    unit,
                    dicom,
                    rigid: Some(r),
                    method,
                })
            }
        }
    }

    /// Aligns a time point through its CT (or by patient coordinates when it has none).
    fn align_with_ct(
        &self,
        study: &Study,
        tp: &TimePoint,
        scan: Scan,
        work: &Path,
    ) -> Result<Aligned> {
        let Scan { image, unit, dicom } = scan;
        let identity = RigidTransform::identity([0.0; 3]);
        let (Some(ref_ct), Some(ct_path)) = (&self.ct, &tp.ct) else {
            return Ok(Aligned {
                image: on_grid(&image, &identity, &self.grid),
                unit,
                dicom,
                rigid: None,
                method: "patient coordinates of the reference CT (no CT with this scan)".into(),
            });
        };
        if study.registration == Registration::None {
            return Ok(Aligned {
                image: on_grid(&image, &identity, &self.grid),
                unit,
                dicom,
                rigid: None,
                method: "patient coordinates (registration none)".into(),
            });
        }
        let tp_ct = crate::io::ct::read_ct(ct_path)?.hu;
        let (fixed, moving) = (ct_for_nmi(ref_ct), ct_for_nmi(&tp_ct));
        let r = register::register_rigid(&fixed, &moving, RigidOptions::default());
        let mut out = trilinear_through(&image, &r.transform, &self.grid);
        let mut method = format!("CT {} → reference CT, rigid NMI", ct_path.display());
        if study.registration == Registration::Deformable {
            // B-spline CT to CT on the reference CT grid, then the same warp for the SPECT.
            let moved_ct = trilinear_through(&moving, &r.transform, &fixed.grid);
            let tf = register::elastix_register(&fixed, &moved_ct, work)?;
            out = register::transformix_apply(&tf, &out, &self.grid, false, work)?;
            method.push_str(", then elastix B-spline CT → CT applied by transformix");
        }
        Ok(Aligned {
            image: out,
            unit,
            dicom,
            rigid: Some(r),
            method,
        })
    }
}

/// The first (cycle, time point), 1-based, that names a CT.
fn first_time_point_ct(study: &Study) -> Option<(usize, usize)> {
    study.cycles.iter().enumerate().find_map(|(ci, c)| {
        c.time_points
            .iter()
            .position(|t| t.ct.is_some())
            .map(|ti| (ci + 1, ti + 1))
    })
}
