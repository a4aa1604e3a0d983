//! I/O benchmarks: loading a 512×512×N CT series (throughput in slices/s).
//!
//! The series is synthesised once into a temporary folder from the WG04 CT slice
//! (tests/data/dicom/compressed_wg04/CT1_UNC.dcm, 512×512, uncompressed): N copies with
//! ImagePositionPatient stepped 5 mm along z and fresh SOP instance UIDs, so the whole
//! read path (parse, decode, sort, rescale) runs as on a real series.

#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use std::path::Path;

const SLICES: usize = 64;

fn make_series(dir: &Path, source: &Path) {
    let base = dicom_object::open_file(source).expect("WG04 CT1_UNC.dcm readable");
    for k in 0..SLICES {
        let mut obj = base.clone();
        let z = -100.0 + 5.0 * k as f64;
        let ipp = format!("-169.3\\-169.3\\{z}");
        obj.put(DataElement::new(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::from(ipp),
        ));
        let uid = voxdose::io::rtdose::new_uid();
        obj.put(DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(uid.clone()),
        ));
        obj.meta_mut().media_storage_sop_instance_uid = uid;
        obj.write_to_file(dir.join(format!("slice{k:03}.dcm")))
            .expect("write slice");
    }
}

fn ct_series(c: &mut Criterion) {
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom/compressed_wg04/CT1_UNC.dcm");
    let dir = tempfile::tempdir().expect("temp dir");
    make_series(dir.path(), &source);
    let mut group = c.benchmark_group("io");
    group.sample_size(10);
    group.throughput(Throughput::Elements(SLICES as u64));
    group.bench_function("read_ct_512x512x64", |b| {
        b.iter(|| voxdose::io::ct::read_ct(dir.path()).expect("series reads"))
    });
    group.finish();
}

criterion_group!(benches, ct_series);
criterion_main!(benches);
