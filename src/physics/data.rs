//! Published physics tables from `data/`, embedded in the binary, and their lookup.
//!
//! Per built-in material (index order of [`crate::physics::materials`]):
//! - photon mass attenuation by process, `data/xcom/<name>.tsv` (NIST XCOM), in cm²/g over
//!   photon energy in keV; absorption edges are two rows at the same energy;
//! - coherent form factor and incoherent scattering function, `data/scatter/<name>.tsv`
//!   (xraylib), as ff2 = Σ (wᵢ/Aᵢ) Fᵢ(x)² and s_incoh = Σ (wᵢ/Aᵢ) Sᵢ(x) in mol/g over
//!   x = sin(θ/2)/λ in 1/Å;
//! - electron stopping powers (MeV·cm²/g), CSDA range (g/cm²) and radiation yield,
//!   `data/estar/<name>.tsv` (NIST ESTAR algorithm), over kinetic energy in keV;
//! - the bremsstrahlung spectrum χ(T, κ) = Σ (wᵢ/Aᵢ) Zᵢ² (β²/Zᵢ²) k dσᵢ/dk (mb·mol/g) over
//!   electron kinetic energy T (keV) and κ = k/T, `data/seltzer-berger/<name>.tsv`
//!   (Seltzer & Berger 1986 scaled cross sections, mixed by mass fraction).
//!
//! Every file opens with `#` lines naming its source and columns, then one line of column
//! names, then tab-separated numbers. The parser checks the column names, so a file with the
//! columns in another order is refused instead of misread. Lookups interpolate log-log between
//! rows and return the end value outside the table; derived, GPU-shaped grids are built from
//! these in `physics::tables`.

use std::sync::OnceLock;

use crate::physics::materials::{builtin_materials, Material};

/// Photon mass attenuation coefficients at one energy, by process (cm²/g).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhotonMu {
    /// Coherent (Rayleigh) scattering (cm²/g).
    pub coherent: f64,
    /// Incoherent (Compton) scattering (cm²/g).
    pub incoherent: f64,
    /// Photoelectric absorption (cm²/g).
    pub photoelectric: f64,
    /// Pair production, nuclear plus electron field (cm²/g).
    pub pair: f64,
}

impl PhotonMu {
    /// Total mass attenuation coefficient, coherent included (cm²/g).
    pub fn total(&self) -> f64 {
        self.coherent + self.incoherent + self.photoelectric + self.pair
    }
}

/// Photon cross-section table of one material (XCOM), rows in non-decreasing energy.
#[derive(Clone, Debug, PartialEq)]
pub struct PhotonXsTable {
    /// Photon energy (keV); an absorption edge appears twice (below, then above).
    pub energy_kev: Vec<f64>,
    /// Coherent μ/ρ (cm²/g).
    pub coherent: Vec<f64>,
    /// Incoherent μ/ρ (cm²/g).
    pub incoherent: Vec<f64>,
    /// Photoelectric μ/ρ (cm²/g).
    pub photoelectric: Vec<f64>,
    /// Pair-production μ/ρ (cm²/g); 0 below 1022 keV.
    pub pair: Vec<f64>,
}

impl PhotonXsTable {
    /// μ/ρ by process at `energy_kev`, log-log between rows.
    ///
    /// Edge-aware: at exactly an edge energy the value above the edge is returned, just below
    /// it the value below. Outside the table the end row is returned.
    pub fn at(&self, energy_kev: f64) -> PhotonMu {
        let (lo, hi, t) = bracket_log(&self.energy_kev, energy_kev);
        let f = |y: &[f64]| interp_log(y[lo], y[hi], t);
        PhotonMu {
            coherent: f(&self.coherent),
            incoherent: f(&self.incoherent),
            photoelectric: f(&self.photoelectric),
            pair: f(&self.pair),
        }
    }
}

/// Form factor and incoherent scattering function of one material (xraylib), mixed by wᵢ/Aᵢ.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterTable {
    /// Momentum transfer x = sin(θ/2)/λ (1/Å), from 0, increasing.
    pub x_inv_angstrom: Vec<f64>,
    /// Σ (wᵢ/Aᵢ) Fᵢ(x)² (mol/g).
    pub ff2: Vec<f64>,
    /// Σ (wᵢ/Aᵢ) Sᵢ(x) (mol/g).
    pub s_incoh: Vec<f64>,
}

impl ScatterTable {
    /// Σ (wᵢ/Aᵢ) F(x)² (mol/g) at `x` (1/Å).
    pub fn ff2_at(&self, x: f64) -> f64 {
        self.lookup(&self.ff2, x)
    }

    /// Σ (wᵢ/Aᵢ) S(x) (mol/g) at `x` (1/Å).
    pub fn s_at(&self, x: f64) -> f64 {
        self.lookup(&self.s_incoh, x)
    }

    /// Log-log between rows; linear in the first interval (x = 0 has no logarithm).
    fn lookup(&self, y: &[f64], x: f64) -> f64 {
        let xs = &self.x_inv_angstrom;
        if xs[0] <= 0.0 && x < xs[1] {
            let t = ((x - xs[0]) / (xs[1] - xs[0])).clamp(0.0, 1.0);
            return y[0] + t * (y[1] - y[0]);
        }
        let (lo, hi, t) = bracket_log(xs, x);
        interp_log(y[lo], y[hi], t)
    }
}

/// Electron stopping-power table of one material (ESTAR algorithm).
#[derive(Clone, Debug, PartialEq)]
pub struct ElectronTable {
    /// Kinetic energy (keV).
    pub energy_kev: Vec<f64>,
    /// Collision mass stopping power (MeV·cm²/g).
    pub s_col: Vec<f64>,
    /// Radiative mass stopping power (MeV·cm²/g).
    pub s_rad: Vec<f64>,
    /// Total mass stopping power (MeV·cm²/g).
    pub s_tot: Vec<f64>,
    /// CSDA range (g/cm²), re-integrated from S_tot (see the file header).
    pub csda_range_g_cm2: Vec<f64>,
    /// Fraction of the kinetic energy radiated as bremsstrahlung while slowing down.
    pub radiation_yield: Vec<f64>,
}

impl ElectronTable {
    /// Total mass stopping power (MeV·cm²/g) at `e_kev`, log-log; end value outside the table.
    pub fn s_tot_at(&self, e_kev: f64) -> f64 {
        let (lo, hi, t) = bracket_log(&self.energy_kev, e_kev);
        interp_log(self.s_tot[lo], self.s_tot[hi], t)
    }

    /// Radiative mass stopping power (MeV·cm²/g) at `e_kev`, log-log.
    pub fn s_rad_at(&self, e_kev: f64) -> f64 {
        let (lo, hi, t) = bracket_log(&self.energy_kev, e_kev);
        interp_log(self.s_rad[lo], self.s_rad[hi], t)
    }

    /// Radiation yield Y(E) (ESTAR's definition), log-log.
    pub fn radiation_yield_at(&self, e_kev: f64) -> f64 {
        let (lo, hi, t) = bracket_log(&self.energy_kev, e_kev);
        interp_log(self.radiation_yield[lo], self.radiation_yield[hi], t)
    }

    /// Collision mass stopping power (MeV·cm²/g) at `e_kev`, log-log.
    pub fn s_col_at(&self, e_kev: f64) -> f64 {
        let (lo, hi, t) = bracket_log(&self.energy_kev, e_kev);
        interp_log(self.s_col[lo], self.s_col[hi], t)
    }

    /// CSDA range (g/cm²) at `e_kev`, log-log. Below the first row the range is taken as
    /// proportional to energy (the same assumption as the table's own starting value,
    /// R(E₀) = E₀ / (2 S(E₀))); above the last row the end value is returned.
    pub fn csda_range_at(&self, e_kev: f64) -> f64 {
        let e0 = self.energy_kev[0];
        if e_kev < e0 {
            return self.csda_range_g_cm2[0] * (e_kev.max(0.0) / e0);
        }
        let (lo, hi, t) = bracket_log(&self.energy_kev, e_kev);
        interp_log(self.csda_range_g_cm2[lo], self.csda_range_g_cm2[hi], t)
    }
}

/// Bremsstrahlung spectrum of one material (Seltzer–Berger), on the tabulation's grid.
#[derive(Clone, Debug, PartialEq)]
pub struct BremsTable {
    /// Electron kinetic energies T (keV), increasing.
    pub energy_kev: Vec<f64>,
    /// Reduced photon energies κ = k/T, from 0 to 1, increasing.
    pub kappa: Vec<f64>,
    /// χ (mb·mol/g), `energy index * kappa.len() + kappa index`.
    pub chi: Vec<f64>,
}

impl BremsTable {
    /// χ(T, κⱼ) at every tabulated κⱼ for kinetic energy `t_kev`: linear in ln T between
    /// rows, the end row outside the table.
    pub fn row_at(&self, t_kev: f64) -> Vec<f64> {
        let (lo, hi, t) = bracket_log(&self.energy_kev, t_kev);
        let nk = self.kappa.len();
        (0..nk)
            .map(|j| {
                let (a, b) = (self.chi[lo * nk + j], self.chi[hi * nk + j]);
                a + t * (b - a)
            })
            .collect()
    }
}

/// All tables of one built-in material.
#[derive(Clone, Debug, PartialEq)]
pub struct MaterialData {
    /// Composition, density, I.
    pub material: Material,
    /// Photon μ/ρ by process.
    pub photon: PhotonXsTable,
    /// F² and S for coherent and incoherent angular sampling.
    pub scatter: ScatterTable,
    /// Electron stopping powers and ranges.
    pub electron: ElectronTable,
    /// Bremsstrahlung spectrum.
    pub brems: BremsTable,
}

/// The tables of built-in material `index` (see [`builtin_materials`]), parsed once.
///
/// Panics if `index` is not a built-in material index: indices come from
/// [`crate::physics::materials::material_index`] or the HU conversion, never from the user.
pub fn material_data(index: usize) -> &'static MaterialData {
    static DATA: OnceLock<Vec<MaterialData>> = OnceLock::new();
    let all = DATA.get_or_init(|| {
        builtin_materials()
            .iter()
            .map(|m| {
                let (xcom, scatter, estar, brems) = embedded_tables(&m.name);
                load_material_data(m.clone(), [xcom, scatter, estar, brems])
                    .expect("embedded data/ tables are checked by the unit tests")
            })
            .collect()
    });
    &all[index]
}

/// The embedded (xcom, scatter, estar, seltzer-berger) text of material `name`.
fn embedded_tables(name: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    macro_rules! tables_of {
        ($($key:literal),*) => {
            match name {
                $($key => (
                    include_str!(concat!("../../data/xcom/", $key, ".tsv")),
                    include_str!(concat!("../../data/scatter/", $key, ".tsv")),
                    include_str!(concat!("../../data/estar/", $key, ".tsv")),
                    include_str!(concat!("../../data/seltzer-berger/", $key, ".tsv")),
                ),)*
                _ => panic!("material {name} in materials.json has no tables in data/; \
                             rerun data/scripts/make_tables.py"),
            }
        };
    }
    tables_of!(
        "water",
        "soft-tissue",
        "cortical-bone",
        "lung",
        "adipose",
        "muscle",
        "red-marrow",
        "air"
    )
}

fn load_material_data(material: Material, text: [&str; 4]) -> Result<MaterialData, TableError> {
    let [xcom, scatter, estar, brems] = text;
    let name = material.name.clone();
    let mut p = parse_tsv(
        xcom,
        &format!("data/xcom/{name}.tsv"),
        &[
            "energy_keV",
            "coherent",
            "incoherent",
            "photoelectric",
            "pair",
        ],
    )?;
    let photon = PhotonXsTable {
        pair: p.pop().expect("5 columns"),
        photoelectric: p.pop().expect("5 columns"),
        incoherent: p.pop().expect("5 columns"),
        coherent: p.pop().expect("5 columns"),
        energy_kev: p.pop().expect("5 columns"),
    };
    let mut s = parse_tsv(
        scatter,
        &format!("data/scatter/{name}.tsv"),
        &["x_inv_angstrom", "ff2", "s_incoh"],
    )?;
    let scatter = ScatterTable {
        s_incoh: s.pop().expect("3 columns"),
        ff2: s.pop().expect("3 columns"),
        x_inv_angstrom: s.pop().expect("3 columns"),
    };
    let mut e = parse_tsv(
        estar,
        &format!("data/estar/{name}.tsv"),
        &[
            "energy_keV",
            "s_col",
            "s_rad",
            "s_tot",
            "csda_range_g_cm2",
            "radiation_yield",
        ],
    )?;
    let electron = ElectronTable {
        radiation_yield: e.pop().expect("6 columns"),
        csda_range_g_cm2: e.pop().expect("6 columns"),
        s_tot: e.pop().expect("6 columns"),
        s_rad: e.pop().expect("6 columns"),
        s_col: e.pop().expect("6 columns"),
        energy_kev: e.pop().expect("6 columns"),
    };
    let brems = brems_table(brems, &format!("data/seltzer-berger/{name}.tsv"))?;
    Ok(MaterialData {
        material,
        photon,
        scatter,
        electron,
        brems,
    })
}

/// Parses a Seltzer–Berger spectrum file (rows of T, κ, χ; T-major, every T with the same κ).
fn brems_table(text: &str, file: &str) -> Result<BremsTable, TableError> {
    let c = parse_tsv(text, file, &["energy_keV", "kappa", "chi_mb_mol_g"])?;
    let mut energy_kev: Vec<f64> = c[0].clone();
    energy_kev.dedup();
    let nk = c[0].len() / energy_kev.len();
    let kappa = c[1][..nk].to_vec();
    let consistent = nk >= 2
        && nk * energy_kev.len() == c[0].len()
        && c[1].chunks(nk).all(|k| k == kappa.as_slice())
        && kappa[0] == 0.0
        && kappa[nk - 1] == 1.0;
    if !consistent {
        return Err(TableError {
            file: file.to_string(),
            line: 0,
            reason: "not a full (T, κ) grid with κ from 0 to 1".into(),
        });
    }
    Ok(BremsTable {
        energy_kev,
        kappa,
        chi: c[2].clone(),
    })
}

/// A data table that does not have the expected shape.
#[derive(Debug, thiserror::Error)]
#[error("{file} line {line}: {reason}; regenerate it with data/scripts/make_tables.py")]
pub struct TableError {
    /// The table (path relative to the repository root).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parses a `#`-headed, tab-separated table with the given column names into columns.
///
/// Checks: the column-name line matches `columns`, every row has that many finite,
/// non-negative numbers, and the first column never decreases (equal values are edges).
pub fn parse_tsv(text: &str, file: &str, columns: &[&str]) -> Result<Vec<Vec<f64>>, TableError> {
    let err = |line: usize, reason: String| TableError {
        file: file.to_string(),
        line,
        reason,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
    let (n, header) = lines
        .next()
        .ok_or_else(|| err(0, "no column-name line".into()))?;
    let names: Vec<&str> = header.split('\t').map(str::trim).collect();
    if names != columns {
        return Err(err(
            n + 1,
            format!("columns are {names:?}, expected {columns:?}"),
        ));
    }
    let mut out = vec![Vec::new(); columns.len()];
    for (n, line) in lines {
        let values: Vec<f64> = line
            .split('\t')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|e| err(n + 1, format!("not a number ({e})")))?;
        if values.len() != columns.len() {
            return Err(err(
                n + 1,
                format!("{} values, expected {}", values.len(), columns.len()),
            ));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(err(n + 1, format!("value {v} is negative or not finite")));
        }
        if let Some(&prev) = out[0].last() {
            if values[0] < prev {
                return Err(err(
                    n + 1,
                    format!("{} = {} decreases", columns[0], values[0]),
                ));
            }
        }
        for (col, v) in out.iter_mut().zip(values) {
            col.push(v);
        }
    }
    if out[0].len() < 2 {
        return Err(err(0, "fewer than two rows".into()));
    }
    Ok(out)
}

/// Finds rows `lo < hi` with `xs[lo] <= x < xs[hi]` and `xs[lo] < xs[hi]`, and the position
/// `t` of `x` between them in ln x (0 at `lo`, 1 at `hi`). At a repeated abscissa (an edge)
/// `x` equal to it falls above the edge. Outside the table `t` is clamped to 0 or 1.
pub fn bracket_log(xs: &[f64], x: f64) -> (usize, usize, f64) {
    let n = xs.len();
    let first_above = xs.partition_point(|&v| v <= x);
    if first_above == 0 {
        return (0, 1, 0.0);
    }
    if first_above == n {
        return (n - 2, n - 1, 1.0);
    }
    let (lo, hi) = (first_above - 1, first_above);
    let t = (x / xs[lo]).ln() / (xs[hi] / xs[lo]).ln();
    (lo, hi, t)
}

/// Interpolates between `y0` (t = 0) and `y1` (t = 1) linearly in ln y, or linearly in y when
/// either is zero (pair production below threshold, S(0)).
pub fn interp_log(y0: f64, y1: f64, t: f64) -> f64 {
    if t == 0.0 {
        return y0;
    }
    if t == 1.0 {
        return y1;
    }
    if y0 > 0.0 && y1 > 0.0 {
        y0 * (y1 / y0).powf(t)
    } else {
        y0 + t * (y1 - y0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_table_parses() {
        for i in 0..builtin_materials().len() {
            let d = material_data(i);
            assert!(d.photon.energy_kev.len() > 100, "{}", d.material.name);
            assert_eq!(d.photon.energy_kev[0], 1.0);
            assert_eq!(*d.photon.energy_kev.last().unwrap(), 3000.0);
            assert_eq!(d.scatter.x_inv_angstrom[0], 0.0);
            assert!(*d.scatter.x_inv_angstrom.last().unwrap() >= 20.0);
            assert_eq!(d.electron.energy_kev[0], 1.0);
        }
    }

    #[test]
    fn lookup_reproduces_table_rows_exactly() {
        let d = material_data(0);
        for (i, &e) in d.photon.energy_kev.iter().enumerate().step_by(7) {
            // At an edge energy the row above the edge is returned.
            let j = d.photon.energy_kev.partition_point(|&v| v <= e) - 1;
            assert_eq!(d.photon.at(e).incoherent, d.photon.incoherent[j], "row {i}");
        }
        let e = &d.electron;
        assert_eq!(e.s_tot_at(e.energy_kev[10]), e.s_tot[10]);
    }

    #[test]
    fn calcium_k_edge_jumps_in_cortical_bone() {
        // Ca K edge 4.0381 keV (XCOM element grid, Z = 20).
        let bone = material_data(2);
        let below = bone.photon.at(4.0381 * (1.0 - 1e-9)).photoelectric;
        let above = bone.photon.at(4.0381).photoelectric;
        assert!(above / below > 2.0, "below {below} above {above}");
    }

    #[test]
    fn wrong_columns_are_refused_with_the_file_name() {
        let text = "# h\nenergy_keV\tpair\n1\t0\n2\t0\n";
        let e = parse_tsv(text, "data/xcom/x.tsv", &["energy_keV", "coherent"]).unwrap_err();
        assert!(e.to_string().contains("data/xcom/x.tsv line 2"), "{e}");
        let text = "energy_keV\tcoherent\n2\t1\n1\t1\n";
        assert!(parse_tsv(text, "f", &["energy_keV", "coherent"]).is_err());
    }

    #[test]
    fn bracket_log_puts_an_edge_energy_above_the_edge() {
        let xs = [1.0, 2.0, 2.0, 4.0];
        assert_eq!(bracket_log(&xs, 2.0), (2, 3, 0.0));
        let (lo, hi, t) = bracket_log(&xs, 1.999);
        assert_eq!((lo, hi), (0, 1));
        assert!(t > 0.99);
        assert_eq!(bracket_log(&xs, 0.5), (0, 1, 0.0));
        assert_eq!(bracket_log(&xs, 9.0), (2, 3, 1.0));
    }
}
