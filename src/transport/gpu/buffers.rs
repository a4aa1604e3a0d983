//! Named device buffers: creation with size checks, upload, and read-back.
//!
//! Every buffer carries the name of the binding it serves (`tally_chunk3`, `rng_bits`), and
//! that name appears in every error about it. Sizes are checked against the device limits
//! before allocating, so a problem that does not fit becomes [`DeviceError::TooLarge`] with
//! the numbers, never a wgpu panic. Sizes are in bytes.

use super::device::GpuContext;
use super::DeviceError;
use wgpu::util::DeviceExt;

/// A device buffer and the name used for it in layouts and errors.
#[derive(Debug)]
pub struct NamedBuffer {
    /// Binding name (for chunk buffers, the chunk's binding name).
    pub name: String,
    /// The buffer.
    pub buffer: wgpu::Buffer,
}

/// A read-only table texture and the name of the binding it serves.
#[derive(Debug)]
pub struct NamedTexture {
    /// Binding name.
    pub name: String,
    /// The texture.
    pub texture: wgpu::Texture,
    /// Its view, as bound.
    pub view: wgpu::TextureView,
    /// Bytes on the device.
    pub bytes: u64,
}

/// One binding's resource, for [`super::pipelines::Pipeline::bind_resources`].
#[derive(Clone, Copy, Debug)]
pub enum Bound<'a> {
    /// A uniform or storage buffer.
    Buffer(&'a NamedBuffer),
    /// A texture.
    Texture(&'a NamedTexture),
}

impl Bound<'_> {
    /// The binding name it carries.
    pub fn name(&self) -> &str {
        match self {
            Bound::Buffer(b) => &b.name,
            Bound::Texture(t) => &t.name,
        }
    }

    /// Bytes on the device.
    pub fn bytes(&self) -> u64 {
        match self {
            Bound::Buffer(b) => b.buffer.size(),
            Bound::Texture(t) => t.bytes,
        }
    }
}

/// Texels per row of a pair-table texture (a power of two: index → (i & (W − 1), i >> log2 W)).
pub const PAIR_TEXTURE_WIDTH: u32 = 1024;
/// Bytes per `Rg32Float` texel.
pub const PAIR_TEXEL_BYTES: u64 = 8;
/// Texels per row of the source table texture (8192: the smallest `max_texture_dimension_2d`
/// wgpu allows, so the width fits every adapter; rows go up to the adapter's own limit).
pub const SOURCE_TEXTURE_WIDTH: u32 = 8192;
/// Bytes per `Rgba32Uint` texel.
pub const SOURCE_TEXEL_BYTES: u64 = 16;

/// A `Rg32Float` texture of [`PAIR_TEXTURE_WIDTH`] columns holding `pairs` row by row (the
/// last row padded with zeros), for `textureLoad` lookups.
pub fn pair_texture(
    ctx: &GpuContext,
    name: &str,
    pairs: &[[f32; 2]],
) -> Result<NamedTexture, DeviceError> {
    table_texture(
        ctx,
        name,
        wgpu::TextureFormat::Rg32Float,
        PAIR_TEXTURE_WIDTH,
        PAIR_TEXEL_BYTES,
        bytemuck::cast_slice(pairs),
    )
}

/// A `Rgba32Uint` texture of [`SOURCE_TEXTURE_WIDTH`] columns holding `texels` row by row.
pub fn source_texture(
    ctx: &GpuContext,
    name: &str,
    texels: &[[u32; 4]],
) -> Result<NamedTexture, DeviceError> {
    table_texture(
        ctx,
        name,
        wgpu::TextureFormat::Rgba32Uint,
        SOURCE_TEXTURE_WIDTH,
        SOURCE_TEXEL_BYTES,
        bytemuck::cast_slice(texels),
    )
}

/// Rows a table of `n` texels takes at `width` per row.
pub fn table_rows(n: u64, width: u32) -> u32 {
    n.div_ceil(u64::from(width)).max(1) as u32
}

fn table_texture(
    ctx: &GpuContext,
    name: &str,
    format: wgpu::TextureFormat,
    width: u32,
    texel_bytes: u64,
    bytes: &[u8],
) -> Result<NamedTexture, DeviceError> {
    let n = bytes.len() as u64 / texel_bytes;
    let rows = table_rows(n, width);
    let limit = ctx.limits.max_texture_dimension_2d;
    let row_bytes = u64::from(width) * texel_bytes;
    if rows > limit {
        return Err(DeviceError::TooLarge {
            what: format!("table texture '{name}' ({n} entries: {rows} rows of {width})"),
            needed_bytes: u64::from(rows) * row_bytes,
            limit_bytes: u64::from(limit) * row_bytes,
        });
    }
    let mut data = bytes.to_vec();
    data.resize((u64::from(rows) * row_bytes) as usize, 0);
    let texture = ctx.scoped(&format!("uploading texture '{name}' ({rows} rows)"), || {
        ctx.device.create_texture_with_data(
            &ctx.queue,
            &wgpu::TextureDescriptor {
                label: Some(name),
                size: wgpu::Extent3d {
                    width,
                    height: rows,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            &data,
        )
    })?;
    let view = texture.create_view(&Default::default());
    Ok(NamedTexture {
        name: name.to_string(),
        bytes: u64::from(rows) * row_bytes,
        texture,
        view,
    })
}

/// Smallest buffer created: placeholders for unused chunk bindings are this big.
pub const MIN_BUFFER_BYTES: u64 = 16;

/// Usage of storage buffers the host also clears, fills and reads back.
pub const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

fn padded(bytes: u64) -> u64 {
    bytes.max(MIN_BUFFER_BYTES).next_multiple_of(4)
}

/// Fails with [`DeviceError::TooLarge`] if a storage binding of `bytes` exceeds the limit.
pub fn check_binding(ctx: &GpuContext, name: &str, bytes: u64) -> Result<(), DeviceError> {
    check_binding_bytes(name, bytes, ctx.device_binding_limit_bytes())
}

/// [`check_binding`] against an explicit limit (for estimates before a device is open).
pub fn check_binding_bytes(name: &str, bytes: u64, limit_bytes: u64) -> Result<(), DeviceError> {
    if bytes > limit_bytes {
        return Err(DeviceError::TooLarge {
            what: format!("storage buffer '{name}'"),
            needed_bytes: bytes,
            limit_bytes,
        });
    }
    Ok(())
}

/// A zeroed storage buffer of `bytes` (at least [`MIN_BUFFER_BYTES`]).
pub fn storage(ctx: &GpuContext, name: &str, bytes: u64) -> Result<NamedBuffer, DeviceError> {
    let size = padded(bytes);
    check_binding(ctx, name, size)?;
    let buffer = ctx.scoped(
        &format!("allocating buffer '{name}' ({size} bytes)"),
        || {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(name),
                size,
                usage: STORAGE_USAGE,
                mapped_at_creation: false,
            })
        },
    )?;
    Ok(NamedBuffer {
        name: name.to_string(),
        buffer,
    })
}

/// A storage buffer holding `data` (padded with zeros to at least [`MIN_BUFFER_BYTES`]).
pub fn storage_init(ctx: &GpuContext, name: &str, data: &[u8]) -> Result<NamedBuffer, DeviceError> {
    let size = padded(data.len() as u64);
    check_binding(ctx, name, size)?;
    let buffer = ctx.scoped(&format!("uploading buffer '{name}' ({size} bytes)"), || {
        if size == data.len() as u64 {
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(name),
                    contents: data,
                    usage: STORAGE_USAGE,
                })
        } else {
            let mut padded_data = data.to_vec();
            padded_data.resize(size as usize, 0);
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(name),
                    contents: &padded_data,
                    usage: STORAGE_USAGE,
                })
        }
    })?;
    Ok(NamedBuffer {
        name: name.to_string(),
        buffer,
    })
}

/// A uniform buffer holding one `Pod` struct.
pub fn uniform<T: bytemuck::Pod>(
    ctx: &GpuContext,
    name: &str,
    value: &T,
) -> Result<NamedBuffer, DeviceError> {
    let buffer = ctx.scoped(&format!("creating uniform '{name}'"), || {
        ctx.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(name),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    })?;
    Ok(NamedBuffer {
        name: name.to_string(),
        buffer,
    })
}

/// A mappable read-back buffer for pieces of at most `bytes` (capped at the binding limit),
/// to reuse across [`read_back_with`] calls.
pub fn staging(ctx: &GpuContext, what: &str, bytes: u64) -> Result<wgpu::Buffer, DeviceError> {
    let size = ctx
        .binding_limit_bytes()
        .min(bytes.next_multiple_of(4))
        .max(4);
    ctx.scoped(&format!("staging for '{what}'"), || {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("staging"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    })
}

/// Copies the first `bytes` of `source` (rounded up to 4) to the host through `staging`, one
/// staging-sized piece at a time, handing each mapped piece to `each(byte offset, bytes)`
/// (waits for the device).
pub fn read_back_with(
    ctx: &GpuContext,
    source: &NamedBuffer,
    staging: &wgpu::Buffer,
    bytes: u64,
    mut each: impl FnMut(u64, &[u8]),
) -> Result<(), DeviceError> {
    let bytes = bytes.next_multiple_of(4).min(source.buffer.size());
    let piece = staging.size();
    let mut offset = 0;
    while offset < bytes {
        let len = piece.min(bytes - offset);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&source.buffer, offset, staging, 0, len);
        let submission = ctx.queue.submit([encoder.finish()]);
        let slice = staging.slice(0..len);
        map_read_after(ctx, submission, &[&slice], &source.name)?;
        {
            let view = slice
                .get_mapped_range()
                .map_err(|e| DeviceError::Failed(format!("reading '{}': {e}", source.name)))?;
            each(offset, &view);
        }
        staging.unmap();
        offset += len;
    }
    Ok(())
}

/// Maps `slices` of staging buffers for reading once `submission` (the one that copies into
/// them) has finished; later submissions are not waited for. `what` names the data in errors.
pub fn map_read_after(
    ctx: &GpuContext,
    submission: wgpu::SubmissionIndex,
    slices: &[&wgpu::BufferSlice],
    what: &str,
) -> Result<(), DeviceError> {
    let (tx, rx) = std::sync::mpsc::channel();
    for slice in slices {
        let tx = tx.clone();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
    }
    drop(tx);
    ctx.wait_for(submission)?;
    for _ in slices {
        let mapped = rx
            .recv()
            .map_err(|_| DeviceError::Failed(format!("reading '{what}': map callback lost")))?;
        mapped.map_err(|e| DeviceError::Failed(format!("reading '{what}': {e}")))?;
    }
    Ok(())
}

/// Copies `bytes` from the start of `source` into host memory (waits for the device).
///
/// Large buffers go through a staging buffer of at most the binding limit, piece by piece,
/// so a read-back never needs a second copy of a whole grid on the device.
pub fn read_back(
    ctx: &GpuContext,
    source: &NamedBuffer,
    bytes: u64,
) -> Result<Vec<u8>, DeviceError> {
    let bytes = bytes.next_multiple_of(4).min(source.buffer.size());
    let staging = staging(ctx, &source.name, bytes)?;
    let mut out = Vec::with_capacity(bytes as usize);
    read_back_with(ctx, source, &staging, bytes, |_, piece| {
        out.extend_from_slice(piece)
    })?;
    Ok(out)
}

/// How one logical per-voxel array is split across chunk bindings.
///
/// Chunk c holds voxels `c << shift .. (c + 1) << shift`; the shift is the largest that
/// keeps one chunk within the binding limit (a power of two, so the kernel splits an index
/// with a shift and a mask). Unused chunk bindings get a [`MIN_BUFFER_BYTES`] placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkPlan {
    /// Binding name prefix (`tally_chunk`, `density_chunk`).
    pub prefix: &'static str,
    /// Voxels in the array.
    pub n_voxels: u64,
    /// Bytes per voxel.
    pub bytes_per_voxel: u64,
    /// log2 of the voxels per chunk.
    pub shift: u32,
    /// Chunks in use.
    pub n_chunks: u32,
    /// Chunk bindings the kernel declares.
    pub max_chunks: u32,
}

impl ChunkPlan {
    /// Plans `n_voxels` of `bytes_per_voxel` over at most `max_chunks` bindings of at most
    /// `binding_limit_bytes` each; [`DeviceError::TooLarge`] if they cannot hold it.
    pub fn new(
        prefix: &'static str,
        n_voxels: u64,
        bytes_per_voxel: u64,
        max_chunks: u32,
        binding_limit_bytes: u64,
    ) -> Result<Self, DeviceError> {
        let per_chunk = (binding_limit_bytes / bytes_per_voxel).max(1);
        // floor(log2), capped so that 2 · index still fits a u32 in the kernel.
        let shift = (63 - per_chunk.leading_zeros()).min(30);
        let chunk_voxels = 1u64 << shift;
        let n_chunks = n_voxels.div_ceil(chunk_voxels).max(1);
        if n_chunks > u64::from(max_chunks) {
            return Err(DeviceError::TooLarge {
                what: format!(
                    "{prefix}: {n_voxels} voxels × {bytes_per_voxel} bytes over at most \
                     {max_chunks} bindings of {} bytes",
                    chunk_voxels * bytes_per_voxel
                ),
                needed_bytes: n_voxels * bytes_per_voxel,
                limit_bytes: u64::from(max_chunks) * chunk_voxels * bytes_per_voxel,
            });
        }
        Ok(ChunkPlan {
            prefix,
            n_voxels,
            bytes_per_voxel,
            shift,
            n_chunks: n_chunks as u32,
            max_chunks,
        })
    }

    /// First voxel and voxel count of chunk `c` (count 0 for an unused chunk).
    pub fn chunk_range(&self, c: u32) -> (u64, u64) {
        let start = (u64::from(c) << self.shift).min(self.n_voxels);
        let end = ((u64::from(c) + 1) << self.shift).min(self.n_voxels);
        (start, end - start)
    }

    /// Binding name of chunk `c`.
    pub fn name(&self, c: u32) -> String {
        if c < self.n_chunks {
            format!("{}{c}", self.prefix)
        } else {
            format!("{}{c} (unused)", self.prefix)
        }
    }

    /// Device bytes of all chunks, placeholders included.
    pub fn device_bytes(&self) -> u64 {
        (0..self.max_chunks)
            .map(|c| padded(self.chunk_range(c).1 * self.bytes_per_voxel))
            .sum()
    }
}
