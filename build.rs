//! Lays out the release binaries so that an idle server keeps little code in memory.
//!
//! The kernel maps a program's code in blocks of 64 KiB around each page it touches
//! (fault-around), so the resident size of an idle server follows how widely the code it ran
//! is spread, not how much of it ran. `link/symbol-order.txt` lists the functions that run
//! while the servers start, answer `initialize` and `tools/list`, and wait; `scripts/symbol-order`
//! writes it from a run under callgrind. LLD puts those functions first and side by side.
//! Idle RSS drops by 1.2 to 1.5 MB (README, "Code layout and idle memory"); nothing else changes.
//!
//! The list names symbols as a release build of this repository mangles them. A name that no
//! longer exists (other toolchain, other dependency versions) is skipped, so a stale list
//! costs only memory, never a failed build. The published package has no list, so builds
//! from crates.io are linked as usual. The flag is given only to a linker that is seen to
//! accept it: an empty program is linked with it first, with this build's target and flags
//! (rustc links x86_64 Linux with its own LLD since 1.90; GNU ld refuses the flag).
//! `SSH_MCP_SYMBOL_ORDER=0` turns it off.
//!
//! `SSH_MCP_LINK_MAP=<dir>` also writes each binary's link map to `<dir>/<binary>.map`, with
//! mangled names, for `scripts/symbol-order`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ORDER_FILE: &str = "link/symbol-order.txt";
const BINARIES: [&str; 2] = ["ssh-mcp", "ssh-mcp-stdio"];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=SSH_MCP_SYMBOL_ORDER");
    println!("cargo::rerun-if-env-changed=SSH_MCP_LINK_MAP");
    let Some(manifest_dir) = env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return;
    };
    let order = manifest_dir.join(ORDER_FILE);
    if !order.is_file() {
        return;
    }
    println!("cargo::rerun-if-changed={ORDER_FILE}");
    let optimised = env::var("OPT_LEVEL").is_ok_and(|l| l != "0");
    if !optimised
        || env::var("SSH_MCP_SYMBOL_ORDER").as_deref() == Ok("0")
        || !linker_accepts(&order)
    {
        return;
    }
    println!(
        "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    if let Some(dir) = env::var_os("SSH_MCP_LINK_MAP").map(PathBuf::from) {
        for bin in BINARIES {
            let map = dir.join(format!("{bin}.map"));
            println!("cargo::rustc-link-arg-bin={bin}=-Wl,-Map={}", map.display());
            println!("cargo::rustc-link-arg-bin={bin}=-Wl,--no-demangle");
        }
    }
}

/// Whether this build's linker takes `--symbol-ordering-file`: links an empty program with
/// it, for this build's target, with its flags and linker.
fn linker_accepts(order: &Path) -> bool {
    let (Some(rustc), Some(out)) = (env::var_os("RUSTC"), env::var_os("OUT_DIR")) else {
        return false;
    };
    let out = PathBuf::from(out);
    let source = out.join("link_probe.rs");
    if std::fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let mut rustc = Command::new(rustc);
    rustc
        .args([
            "--edition=2021",
            "--crate-type=bin",
            "--crate-name=link_probe",
        ])
        .arg("-o")
        .arg(out.join("link_probe"))
        .arg(&source)
        .arg(format!(
            "-Clink-arg=-Wl,--symbol-ordering-file={}",
            order.display()
        ))
        .arg("-Clink-arg=-Wl,--no-warn-symbol-ordering");
    if let Ok(target) = env::var("TARGET") {
        rustc.arg(format!("--target={target}"));
    }
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut flag = std::ffi::OsString::from("-Clinker=");
        flag.push(linker);
        rustc.arg(flag);
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    rustc.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    rustc
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
