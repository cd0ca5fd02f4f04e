//! Which backend runs the model: chosen at run time, compiled in or out with Cargo features.
//!
//! Burn 0.22 puts the backend in the [`Device`], so picking a backend is picking a device.
//! `Device::default()` would silently prefer wgpu whenever it is compiled in; the zoo always
//! builds the device from an explicit [`BackendKind`] instead.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

/// One of the backends the zoo knows about, whether or not this build includes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Burn's NdArray CPU backend (deprecated upstream, kept for comparison).
    Ndarray,
    /// Flex, Burn's recommended pure-Rust CPU backend.
    Flex,
    /// wgpu: Vulkan, Metal or DirectX GPUs (and Mesa's software Vulkan driver).
    Wgpu,
    /// A device another machine serves with `zoo-device-server` (Burn's remote backend), at
    /// the address [`crate::remote::use_servers`] set.
    Remote,
}

/// Why a backend cannot be used on this build or this machine.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "backend `{backend}` is not compiled into this binary (compiled: {compiled}); \
         rebuild with `--features {backend}` or pick one of the compiled backends"
    )]
    NotCompiled {
        backend: BackendKind,
        compiled: String,
    },
    #[error(
        "backend `wgpu` has no usable GPU adapter: {reason}. Install a Vulkan driver \
         (Debian/Ubuntu: `apt-get install mesa-vulkan-drivers`) or use `--backend flex`"
    )]
    NoAdapter { reason: String },
    #[error("unknown backend `{0}`; expected one of: ndarray, flex, wgpu, remote")]
    Unknown(String),
    /// A remote server not set, unreachable or refusing: its `RemoteError`'s message.
    #[error("{0}")]
    Remote(String),
    #[error(
        "{n} devices asked for, but the `{backend}` backend has one here; serve devices with \
         zoo-device-server (--devices N) and train on them with --backend remote"
    )]
    OneDevice { backend: BackendKind, n: usize },
}

#[cfg(feature = "remote")]
impl From<crate::remote::RemoteError> for BackendError {
    fn from(error: crate::remote::RemoteError) -> Self {
        BackendError::Remote(error.to_string())
    }
}

impl BackendKind {
    /// Every backend the zoo knows, in the order they are listed to users.
    pub const ALL: [BackendKind; 4] = [
        BackendKind::Ndarray,
        BackendKind::Flex,
        BackendKind::Wgpu,
        BackendKind::Remote,
    ];

    /// The name used on the command line and in JSON files.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Ndarray => "ndarray",
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Remote => "remote",
        }
    }

    /// Whether this binary was built with the backend's Cargo feature.
    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Remote => cfg!(feature = "remote"),
        }
    }

    /// The backends compiled into this binary.
    pub fn compiled() -> Vec<BackendKind> {
        Self::ALL.into_iter().filter(|b| b.is_compiled()).collect()
    }

    /// The backend used when none is asked for: a CPU backend, since a GPU may be absent.
    /// Flex comes first because it trains the small CNN about 6x faster than NdArray on the
    /// same cores and the MLP at the same speed (README, "Backends").
    pub fn default_for_build() -> BackendKind {
        [BackendKind::Flex, BackendKind::Ndarray, BackendKind::Wgpu]
            .into_iter()
            .find(|b| b.is_compiled())
            .expect("lib.rs refuses to compile without a backend feature")
    }

    /// The CPU backend `device` belongs to (with or without autodiff); `None` for a GPU.
    /// (Asking about wgpu would start its runtime, so it is never compared.)
    pub fn cpu_backend_of(device: &Device) -> Option<BackendKind> {
        let plain = device.clone().without_autodiff();
        [BackendKind::Ndarray, BackendKind::Flex]
            .into_iter()
            .filter(|b| b.is_compiled())
            .find(|b| b.device().is_ok_and(|d| d == plain))
    }

    /// A device of this backend, without autodiff. Fails with a hint when the backend is not
    /// compiled in, when (wgpu) the machine has no adapter, or when (remote) no server was set
    /// or it cannot be reached.
    pub fn device(self) -> Result<Device, BackendError> {
        if !self.is_compiled() {
            return Err(BackendError::NotCompiled {
                backend: self,
                compiled: Self::compiled()
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        match self {
            #[cfg(feature = "ndarray")]
            BackendKind::Ndarray => {
                // The one place the deprecated NdArray device is built.
                #[allow(deprecated)]
                Ok(Device::ndarray())
            }
            #[cfg(feature = "flex")]
            BackendKind::Flex => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => wgpu_device(),
            #[cfg(feature = "remote")]
            BackendKind::Remote => Ok(crate::remote::main_device()?),
            #[allow(unreachable_patterns)]
            _ => unreachable!("is_compiled() checked the feature"),
        }
    }
}

impl BackendKind {
    /// `n` devices of this backend, for data-parallel training: the remote backend's are its
    /// servers' devices in order (see [`crate::remote::devices`]); a local backend has one.
    pub fn devices(self, n: usize) -> Result<Vec<Device>, BackendError> {
        match self {
            _ if n <= 1 => Ok(vec![self.device()?]),
            #[cfg(feature = "remote")]
            BackendKind::Remote => Ok(crate::remote::devices(n)?),
            backend => {
                backend.device()?;
                Err(BackendError::OneDevice { backend, n })
            }
        }
    }
}

/// The wgpu runtime can be initialised once per process; later calls reuse that outcome.
/// `Device::wgpu()` would panic on a device thread when there is no adapter, so the runtime is
/// initialised through the fallible `wgpu_options().init()` instead.
#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, BackendError> {
    use std::sync::OnceLock;
    static WGPU: OnceLock<Result<Device, String>> = OnceLock::new();
    WGPU.get_or_init(|| Device::wgpu_options().init().map_err(|e| e.to_string()))
        .clone()
        .map_err(|reason| BackendError::NoAdapter { reason })
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| BackendError::Unknown(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for backend in BackendKind::ALL {
            assert_eq!(backend.name().parse::<BackendKind>().unwrap(), backend);
        }
        assert!(matches!(
            "cuda".parse::<BackendKind>(),
            Err(BackendError::Unknown(_))
        ));
    }

    #[test]
    fn missing_backend_is_an_error_not_a_panic() {
        for backend in BackendKind::ALL.into_iter().filter(|b| !b.is_compiled()) {
            let err = backend.device().unwrap_err();
            assert!(err.to_string().contains("not compiled"), "{err}");
        }
        for backend in [BackendKind::Ndarray, BackendKind::Flex]
            .into_iter()
            .filter(|b| b.is_compiled())
        {
            backend
                .device()
                .expect("a compiled CPU backend always has a device");
        }
    }
}
