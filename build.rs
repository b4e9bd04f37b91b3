//! Lays out the release binaries so that an idle server keeps little code in memory.
//!
//! The kernel maps a program's code in blocks of 64 KiB around each page it touches
//! (fault-around), so the resident size of an idle server follows how widely the code it ran
//! is spread, not how much of it ran. `link/symbol-order.txt` lists the functions that run
//! while the servers start, answer `initialize` and `tools/list`, and wait; `scripts/symbol-order`
//! writes it from a run under callgrind. LLD puts those functions first and side by side.
//! Idle RSS drops by 1.2 to 1.5 MB (README, "Code layout and idle memory"); nothing else changes.
//!
//! The list names symbols as this build of this checkout mangles them. A name that no longer
//! exists (other toolchain, other dependency versions, a build from crates.io) is skipped, so
//! a stale list costs only memory, never a failed build. The flag is given only when the
//! linker is known to be LLD: Rust 1.90 and later link x86_64-unknown-linux-gnu with its own
//! LLD unless a linker is configured. `SSH_MCP_SYMBOL_ORDER=0` turns it off, `=1` turns it on
//! for another LLD setup (clang with `-fuse-ld=lld`, say).
//!
//! `SSH_MCP_LINK_MAP=<dir>` also writes each binary's link map to `<dir>/<binary>.map`, with
//! mangled names, for `scripts/symbol-order`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const ORDER_FILE: &str = "link/symbol-order.txt";
const BINARIES: [&str; 2] = ["ssh-mcp", "ssh-mcp-stdio"];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed={ORDER_FILE}");
    println!("cargo::rerun-if-env-changed=SSH_MCP_SYMBOL_ORDER");
    println!("cargo::rerun-if-env-changed=SSH_MCP_LINK_MAP");

    let wanted = match env::var("SSH_MCP_SYMBOL_ORDER").as_deref() {
        Ok("0") => false,
        Ok("1") => true,
        _ => links_with_rust_lld(),
    };
    if !wanted {
        return;
    }
    let Some(manifest_dir) = env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return;
    };
    let order = manifest_dir.join(ORDER_FILE);
    if order.is_file() {
        println!(
            "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    if let Some(dir) = env::var_os("SSH_MCP_LINK_MAP").map(PathBuf::from) {
        for bin in BINARIES {
            let map = dir.join(format!("{bin}.map"));
            println!("cargo::rustc-link-arg-bin={bin}=-Wl,-Map={}", map.display());
            println!("cargo::rustc-link-arg-bin={bin}=-Wl,--no-demangle");
        }
    }
}

/// True when rustc links this target with its own LLD: x86_64 Linux with glibc, Rust 1.90
/// or later, an optimised build, and no linker chosen by configuration or flags.
fn links_with_rust_lld() -> bool {
    let var = |name: &str| env::var(name).unwrap_or_default();
    if var("TARGET") != "x86_64-unknown-linux-gnu" || var("OPT_LEVEL") == "0" {
        return false;
    }
    if env::var_os("RUSTC_LINKER").is_some() {
        return false;
    }
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    if ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|f| flags.contains(f))
    {
        return false;
    }
    rustc_minor_version().is_some_and(|minor| minor >= 90)
}

/// The minor version of the compiler cargo builds with (`1.95.0` gives 95).
fn rustc_minor_version() -> Option<u32> {
    let rustc = env::var_os("RUSTC")?;
    let out = Command::new(rustc).arg("-vV").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let release = text.lines().find_map(|l| l.strip_prefix("release: "))?;
    let mut parts = release.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}
