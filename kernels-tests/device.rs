//! Embedding: a host program hands over its own wgpu device and buffers, and
//! gets buffers back, with no CPU round trip. And adapter selection by name.

use shadergrad::{DType, Device, Error, Tensor};

/// A buffer the host makes, with the usages the engine needs.
fn host_buffer(device: &wgpu::Device, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("host"),
        size,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })
}

#[test]
fn a_host_device_and_its_buffers_are_used_in_place() {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .unwrap();
    let (device, queue) =
        pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).unwrap();
    let dev = Device::from_wgpu(device.clone(), queue.clone());
    assert!(dev.is_embedded());

    // The host's own buffer, filled by the host.
    let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let host = host_buffer(&device, 24);
    queue.write_buffer(&host, 0, bytemuck::cast_slice(&data));
    let x = Tensor::from_wgpu_buffer(&dev, host.clone(), &[2, 3], DType::F32).unwrap();
    let before = dev.counters();
    let y = x
        .mul(10.0)
        .unwrap()
        .add(&x.sum(&[1], true).unwrap())
        .unwrap();
    let out = y.to_wgpu_buffer().unwrap();
    let d = dev.counters() - before;
    assert_eq!(
        d.submits, 1,
        "realized on the GPU, nothing read back: {d:?}"
    );

    // The host reads the result with its own copy and map.
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("staging"),
        size: 24,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(&out, 0, &staging, 0, 24);
    queue.submit([enc.finish()]);
    staging.map_async(wgpu::MapMode::Read, .., |r| r.unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let got: Vec<f32> = bytemuck::cast_slice(&staging.get_mapped_range(..).unwrap()).to_vec();
    assert_eq!(got, vec![16.0, 26.0, 36.0, 55.0, 65.0, 75.0]);

    // The handed-out buffer is never recycled under the host.
    drop(y);
    let z = Tensor::zeros(&dev, &[6], DType::F32)
        .unwrap()
        .add(7.0)
        .unwrap();
    z.realize().unwrap();
    let mut enc = device.create_command_encoder(&Default::default());
    staging.unmap();
    enc.copy_buffer_to_buffer(&out, 0, &staging, 0, 24);
    queue.submit([enc.finish()]);
    staging.map_async(wgpu::MapMode::Read, .., |r| r.unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let again: Vec<f32> = bytemuck::cast_slice(&staging.get_mapped_range(..).unwrap()).to_vec();
    assert_eq!(again, got);
}

#[test]
fn host_buffers_are_checked() {
    let dev = Device::new().unwrap();
    let b = dev.wgpu_device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 16,
        usage: wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let e = Tensor::from_wgpu_buffer(&dev, b, &[4], DType::F32).unwrap_err();
    assert!(
        matches!(e, Error::HostBuffer { .. }) && e.to_string().contains("STORAGE"),
        "{e}"
    );
    // Readbacks copy from it: COPY_SRC is checked up front, not at the read.
    let b = dev.wgpu_device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 16,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let e = Tensor::from_wgpu_buffer(&dev, b, &[4], DType::F32).unwrap_err();
    assert!(e.to_string().contains("lacks COPY_SRC"), "{e}");
    let all =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let small = dev.wgpu_device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 8,
        usage: all,
        mapped_at_creation: false,
    });
    assert!(Tensor::from_wgpu_buffer(&dev, small, &[4], DType::F32).is_err());
    // A handed-out buffer may be larger than the tensor: nbytes says how much is it.
    let t = Tensor::from_slice(&dev, &[1.0f32, 2.0, 3.0], &[3]).unwrap();
    assert_eq!(t.nbytes(), 12);
    assert!(t.to_wgpu_buffer().unwrap().size() >= t.nbytes());
}

#[test]
fn a_kernel_over_the_devices_binding_limits_is_a_typed_error_that_loses_nothing() {
    // Three storage buffers a stage: below what any real device allows, and
    // below Adam's four (parameter, gradient, two moments).
    let opts = shadergrad::DeviceOptions {
        limits: Some(shadergrad::wgpu::Limits {
            max_storage_buffers_per_shader_stage: 3,
            ..shadergrad::wgpu::Limits::downlevel_defaults()
        }),
        ..Default::default()
    };
    let d = Device::with_options(&opts).unwrap();
    let w = Tensor::from_slice(&d, &[1.0f32, 2.0, 3.0], &[3]).unwrap();
    let w = shadergrad::nn::parameter(w).unwrap();
    let mut opt = shadergrad::optim::Optimizer::adam(std::slice::from_ref(&w), 0.1).unwrap();
    w.square().unwrap().sum_all().unwrap().backward().unwrap();
    match opt.step() {
        Err(Error::LimitExceeded {
            kernel,
            limit,
            need,
            have,
        }) => {
            assert_eq!(kernel, "optim::adam");
            assert_eq!(limit, "max_storage_buffers_per_shader_stage");
            assert_eq!((need, have), (4, 3));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.to_vec::<f32>().unwrap(), [1.0, 2.0, 3.0]);
}

#[test]
fn a_failure_the_gpu_reports_is_a_typed_error_naming_the_kernels() {
    let dev = Device::new().unwrap();
    let host = host_buffer(dev.wgpu_device(), 16);
    let x = Tensor::from_wgpu_buffer(&dev, host.clone(), &[4], DType::F32).unwrap();
    // The host destroys its buffer while the engine still holds it.
    host.destroy();
    let err = x
        .add(1.0)
        .unwrap()
        .softmax(-1)
        .unwrap()
        .to_vec::<f32>()
        .unwrap_err();
    match &err {
        Error::GpuFailure { kernel, cause, .. } => {
            assert_eq!(*cause, shadergrad::GpuCause::Validation, "{err}");
            // The kernel whose bind group holds the buffer: the fused add.
            assert!(kernel.starts_with("elementwise"), "{err}");
            assert!(err.to_string().contains("destroyed"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    // The device still works.
    let y = Tensor::from_slice(&dev, &[1.0f32, 2.0], &[2]).unwrap();
    assert_eq!(y.add(1.0).unwrap().to_vec::<f32>().unwrap(), [2.0, 3.0]);
}

/// A fresh wgpu instance's device and queue, apart from any engine's.
fn other_instance() -> (wgpu::Device, wgpu::Queue) {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .unwrap();
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).unwrap()
}

fn refused(dev: &Device, host: wgpu::Buffer) -> String {
    match Tensor::from_wgpu_buffer(dev, host, &[4], DType::F32) {
        Err(e @ Error::HostBuffer { .. }) => e.to_string(),
        Err(e) => panic!("not a host-buffer error: {e}"),
        Ok(t) => panic!(
            "accepted; it reads {:?}",
            t.add(1.0).unwrap().to_vec::<f32>()
        ),
    }
}

#[test]
fn a_buffer_of_another_device_or_instance_is_refused_at_the_hand_over() {
    // Another device of the engine's own instance: wgpu's validation says so.
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .unwrap();
    let two = || pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    let ((d1, q1), (d2, _)) = (two(), two());
    let e = refused(&Device::from_wgpu(d1, q1), host_buffer(&d2, 16));
    assert!(e.contains("doesn't match Device"), "{e}");
    // Another instance, whose buffer's id names one of the engine's buffers
    // (it used to bind that buffer and read [1, 1, 1, 1] for 7 + 1).
    let dev = Device::new().unwrap();
    let mine: Vec<Tensor> = (0..3)
        .map(|i| Tensor::from_slice(&dev, &[i as f32; 4], &[4]).unwrap())
        .collect();
    Tensor::realize_all(&mine.iter().collect::<Vec<_>>()).unwrap();
    let (device, queue) = other_instance();
    let host = host_buffer(&device, 16);
    queue.write_buffer(&host, 0, bytemuck::cast_slice(&[7.0f32; 4]));
    let e = refused(&dev, host);
    assert!(e.contains("another wgpu instance"), "{e}");
    // Another instance, whose id names nothing here: wgpu's panic is caught,
    // and the engine's device goes on working.
    let fresh = Device::new().unwrap();
    let e = refused(&fresh, host_buffer(&device, 16));
    assert!(e.contains("unknown to this wgpu instance"), "{e}");
    let t = Tensor::from_slice(&fresh, &[1.0f32, 2.0], &[2]).unwrap();
    assert_eq!(t.add(1.0).unwrap().to_vec::<f32>().unwrap(), [2.0, 3.0]);
    // A buffer the engine handed out comes back in.
    let out = mine[2].add(1.0).unwrap().to_wgpu_buffer().unwrap();
    let back = Tensor::from_wgpu_buffer(&dev, out, &[4], DType::F32).unwrap();
    assert_eq!(back.to_vec::<f32>().unwrap(), [3.0; 4]);
}
