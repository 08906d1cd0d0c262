//! Encoding a plan: every step into one compute pass (or, when profiling on
//! an adapter without timestamps inside passes, one pass per step), each
//! with its bind group, reused when the same buffers come back.

use std::sync::Arc;

use crate::device::Device;
use crate::plan::collect::Graph;
use crate::plan::{BufRef, Plan, Step};
use crate::pool::GpuBuffer;

/// Timestamps of a profiled realize: the query set, and per step its start
/// and end query.
pub(crate) struct Stamps {
    pub set: wgpu::QuerySet,
    pub count: u32,
}

/// Records every step of `plan` into `encoder`, binding `status` as the status
/// word; with `profile` (and an adapter with timestamps) a timestamp around
/// every dispatch.
pub(crate) fn encode(
    dev: &Device,
    plan: &Plan,
    g: &Graph,
    outputs: &[Arc<GpuBuffer>],
    status: Option<&GpuBuffer>,
    encoder: &mut wgpu::CommandEncoder,
    profile: bool,
) -> Option<Stamps> {
    let resolve = |r: BufRef| -> &GpuBuffer {
        match r {
            BufRef::Leaf(k) => &g.leaves[k],
            BufRef::Output(k) => &outputs[k],
            BufRef::Slot(k) => &plan.arena[k],
            BufRef::Meta => plan.meta.as_ref().expect("plan has meta"),
            BufRef::Scalars => plan.scalars.as_ref().expect("plan has scalars"),
            BufRef::Status => status.expect("a plan binding the status word has one"),
        }
    };
    let c = dev.counter_set();
    c.add(&c.dispatches, plan.steps.len() as u64);
    let caps = dev.caps();
    let count = (plan.steps.len() * 2) as u32;
    let profile = profile && caps.timestamps && count > 0 && count <= wgpu::QUERY_SET_MAX_QUERIES;
    if !profile {
        let mut pass = begin(encoder, None);
        for step in &plan.steps {
            dispatch(&mut pass, step, &bind_group(dev, step, &resolve));
        }
        return None;
    }
    let set = dev
        .wgpu_device()
        .create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("shadergrad profile"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
    if caps.timestamps_in_passes {
        let mut pass = begin(encoder, None);
        for (i, step) in plan.steps.iter().enumerate() {
            let bg = bind_group(dev, step, &resolve);
            // The timestamps around the dispatch alone: binding is not its time.
            pass.set_pipeline(&step.pipeline);
            pass.set_bind_group(0, &bg, &[]);
            pass.write_timestamp(&set, 2 * i as u32);
            let [x, y, z] = step.workgroups;
            pass.dispatch_workgroups(x, y, z);
            pass.write_timestamp(&set, 2 * i as u32 + 1);
        }
    } else {
        for (i, step) in plan.steps.iter().enumerate() {
            let bg = bind_group(dev, step, &resolve);
            let writes = wgpu::ComputePassTimestampWrites {
                query_set: &set,
                beginning_of_pass_write_index: Some(2 * i as u32),
                end_of_pass_write_index: Some(2 * i as u32 + 1),
            };
            dispatch(&mut begin(encoder, Some(writes)), step, &bg);
        }
    }
    Some(Stamps { set, count })
}

fn begin<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    timestamp_writes: Option<wgpu::ComputePassTimestampWrites<'e>>,
) -> wgpu::ComputePass<'e> {
    encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("shadergrad"),
        timestamp_writes,
    })
}

fn dispatch(pass: &mut wgpu::ComputePass, step: &Step, bg: &wgpu::BindGroup) {
    pass.set_pipeline(&step.pipeline);
    pass.set_bind_group(0, bg, &[]);
    let [x, y, z] = step.workgroups;
    pass.dispatch_workgroups(x, y, z);
}

/// The step's bind group for these buffers: reused when the same buffers
/// come back (a cached plan replayed on recycled outputs).
fn bind_group<'a>(
    dev: &Device,
    step: &Step,
    resolve: &impl Fn(BufRef) -> &'a GpuBuffer,
) -> wgpu::BindGroup {
    let ids: Vec<u64> = step.bindings.iter().map(|b| resolve(b.buf).id).collect();
    step.bind_groups.get(ids, || {
        let entries: Vec<wgpu::BindGroupEntry> = step
            .bindings
            .iter()
            .map(|b| wgpu::BindGroupEntry {
                binding: b.index,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &resolve(b.buf).buffer,
                    offset: b.offset,
                    size: std::num::NonZeroU64::new(b.size),
                }),
            })
            .collect();
        dev.wgpu_device()
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(step.name),
                layout: &step.layout.0,
                entries: &entries,
            })
    })
}
