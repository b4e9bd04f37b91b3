//! Wrappers that run another command: only their plain options are accepted, and the
//! command they run is checked by the same rules.

use super::subcommands::attached;
use super::words::WordInfo;

/// Options of a wrapper: returns the index of the first word that is not one.
fn wrapper_options(
    cmd: &str,
    args: &[WordInfo],
    flags: &[&str],
    values: &[&str],
) -> Result<usize, String> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let Some(v) = a.value.as_deref() else {
            return Err(format!("`{cmd}`: `{}` must be written literally", a.raw));
        };
        if v == "--" {
            return Ok(i + 1);
        }
        if !v.starts_with('-') || v == "-" {
            return Ok(i);
        }
        let digits = v.len() > 1 && v.chars().skip(1).all(|c| c.is_ascii_digit());
        if flags.contains(&v) || (cmd == "nice" && digits) || values.iter().any(|o| attached(v, o))
        {
            i += 1;
        } else if values.contains(&v) && args.get(i + 1).is_some_and(|w| w.value.is_some()) {
            i += 2;
        } else {
            return Err(format!(
                "`{cmd} {v}` is not allowed (allowed: {})",
                flags
                    .iter()
                    .chain(values)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    Ok(i)
}

fn at(args: &[WordInfo], i: usize) -> Option<usize> {
    (i < args.len()).then_some(i)
}

pub(super) fn sudo(args: &[WordInfo]) -> Result<Option<usize>, String> {
    let i = wrapper_options(
        "sudo",
        args,
        &["-n", "--non-interactive", "-H", "--set-home"],
        &["-u", "--user", "-g", "--group"],
    )?;
    Ok(at(args, i))
}

pub(super) fn timeout(args: &[WordInfo]) -> Result<Option<usize>, String> {
    let i = wrapper_options(
        "timeout",
        args,
        &["--preserve-status", "--foreground", "-v", "--verbose"],
        &["-s", "--signal", "-k", "--kill-after"],
    )?;
    match args.get(i) {
        Some(d) if d.value.is_some() => Ok(at(args, i + 1)),
        _ => Err("`timeout` needs a literal duration".into()),
    }
}

pub(super) fn nice(args: &[WordInfo]) -> Result<Option<usize>, String> {
    let i = wrapper_options("nice", args, &[], &["-n", "--adjustment"])?;
    Ok(at(args, i))
}

pub(super) fn xargs(args: &[WordInfo]) -> Result<Option<usize>, String> {
    let i = wrapper_options(
        "xargs",
        args,
        &[
            "-0",
            "--null",
            "-r",
            "--no-run-if-empty",
            "-t",
            "--verbose",
            "-x",
            "--exit",
        ],
        &[
            "-n",
            "--max-args",
            "-L",
            "--max-lines",
            "-P",
            "--max-procs",
            "-d",
            "--delimiter",
            "-I",
            "-s",
            "--max-chars",
            "-E",
        ],
    )?;
    Ok(at(args, i))
}
