//! A training run's whole state in one file, to stop and continue exactly:
//! the model's state dict (`model.*`), the optimizer's (`optim.*`: moments,
//! step count), the rate schedule's position, the random generator's state
//! and the data loader's position (epoch, order, next sample). PyTorch users
//! save a dict of these with `torch.save`; this is that dict as safetensors.
//! For a model alone, in the layout `torch.nn.Module.load_state_dict` reads,
//! save its `state_dict()` with `checkpoint::save`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::data::{Loader, LoaderState};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::Stateful;
use crate::optim::{LrScheduler, Optimizer};
use crate::tensor::Tensor;

/// The parts of a run, gathered with the `with_*` builders and saved in one
/// atomic write; or loaded, then put back with the `restore_*` methods (a
/// part the file lacks is an error naming the file).
#[derive(Default)]
pub struct Checkpoint {
    tensors: Vec<(String, Tensor)>,
    metadata: BTreeMap<String, String>,
    /// Where it was read from (for errors); empty when built here.
    file: String,
}

const RNG: &str = "rng";
const SCHEDULER: &str = "scheduler.steps";
const EPOCH: &str = "loader.epoch";
const NEXT: &str = "loader.next";
const ORDER: &str = "loader.order";

impl Checkpoint {
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    /// The model's state dict, under `model.`.
    pub fn with_model(mut self, model: &(impl Stateful + ?Sized)) -> Checkpoint {
        self.tensors
            .extend(crate::nn::prefixed("model", model.state_dict()));
        self
    }

    /// The optimizer's state dict, under `optim.`.
    pub fn with_optimizer(mut self, opt: &Optimizer) -> Result<Checkpoint> {
        self.tensors
            .extend(crate::nn::prefixed("optim", opt.state_dict()?));
        Ok(self)
    }

    pub fn with_scheduler(self, sched: &LrScheduler) -> Checkpoint {
        self.with_meta(SCHEDULER, sched.steps())
    }

    /// The device's random generator (dropout masks, initialisation).
    pub fn with_rng(self, dev: &Device) -> Checkpoint {
        self.with_meta(RNG, dev.rng_state())
    }

    /// The loader's epoch, order and position.
    pub fn with_loader(mut self, dev: &Device, loader: &Loader) -> Result<Checkpoint> {
        let s = loader.state();
        let order: Vec<i32> = s.order.iter().map(|&i| i as i32).collect();
        let order = Tensor::from_slice(dev, &order, &[order.len()])?;
        self.tensors.push((ORDER.into(), order));
        Ok(self.with_meta(EPOCH, s.epoch).with_meta(NEXT, s.next))
    }

    /// Any other value (the steps done, the model's name).
    pub fn with_meta(mut self, key: &str, value: impl ToString) -> Checkpoint {
        self.metadata.insert(key.into(), value.to_string());
        self
    }

    /// Writes it all to `path` at once, atomically, with the crate's version.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let named: Vec<(&str, &Tensor)> =
            self.tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut meta: Vec<(&str, &str)> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        meta.push(("shadergrad.version", env!("CARGO_PKG_VERSION")));
        super::save(path, &named, &meta)
    }

    pub fn load(dev: &Device, path: impl AsRef<Path>) -> Result<Checkpoint> {
        let loaded = super::load(dev, path.as_ref())?;
        Ok(Checkpoint {
            tensors: loaded.tensors,
            metadata: loaded.metadata,
            file: path.as_ref().display().to_string(),
        })
    }

    /// The tensors saved under `prefix.`, with the prefix taken off.
    fn part(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let p = format!("{prefix}.");
        let each = self.tensors.iter();
        each.filter_map(|(k, t)| Some((k.strip_prefix(&p)?.to_string(), t.clone())))
            .collect()
    }

    /// Loads the model's state (see `Stateful::load_state_dict`).
    pub fn restore_model(&self, model: &(impl Stateful + ?Sized), strict: bool) -> Result<()> {
        model.load_state_dict(&self.part("model"), strict)
    }

    pub fn restore_optimizer(&self, opt: &mut Optimizer) -> Result<()> {
        opt.load_state_dict(&self.part("optim"))
    }

    pub fn restore_scheduler(&self, sched: &mut LrScheduler, opt: &mut Optimizer) -> Result<()> {
        sched.resume(self.number(SCHEDULER)?, opt);
        Ok(())
    }

    pub fn restore_rng(&self, dev: &Device) -> Result<()> {
        dev.manual_seed(self.number(RNG)?);
        Ok(())
    }

    pub fn restore_loader(&self, loader: &mut Loader) -> Result<()> {
        let order = self.part("loader");
        let order = order.iter().find(|(k, _)| k == "order");
        let order = order
            .ok_or_else(|| self.missing(ORDER))?
            .1
            .to_vec::<i32>()?;
        let order = order
            .iter()
            .map(|&i| usize::try_from(i))
            .collect::<std::result::Result<Vec<usize>, _>>()
            .map_err(|_| self.fault(ORDER, "a negative sample index"))?;
        let state = LoaderState {
            epoch: self.number(EPOCH)?,
            order,
            next: self.number(NEXT)?,
        };
        loader
            .restore(state)
            .map_err(|e| self.fault(ORDER, &e.to_string()))
    }

    /// A metadata value (`None` if the file has none by that name).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    pub fn tensors(&self) -> &[(String, Tensor)] {
        &self.tensors
    }

    /// A metadata value read as a number.
    pub fn number<T: std::str::FromStr>(&self, key: &str) -> Result<T> {
        let v = self.meta(key).ok_or_else(|| self.missing(key))?;
        v.parse()
            .map_err(|_| self.fault(key, &format!("{v:?} is not a number")))
    }

    fn missing(&self, key: &str) -> Error {
        self.fault(key, "the checkpoint has no such entry")
    }

    fn fault(&self, key: &str, msg: &str) -> Error {
        Error::Data {
            file: self.file.clone(),
            at: format!("entry {key:?}"),
            msg: msg.into(),
        }
    }
}
