//! Python virtual environments under `target/`, installed from fully pinned
//! requirements files: the emulator's (moto) and the template linters'
//! (cfn-lint, checkov). Only Python 3 with `venv` is needed on the machine.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{HarnessError, workspace_root};

fn run_checked(command: &mut Command, what: &str) -> Result<(), HarnessError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| HarnessError::io(format!("running {what}"), e))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tail: String = format!("{stdout}{stderr}")
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    Err(HarnessError::Venv(format!(
        "{what} exited with {}:\n{tail}",
        output.status
    )))
}

/// Makes sure `<workspace>/target/<name>` is a Python venv with exactly
/// `requirements` (a fully pinned file) installed, and returns its path.
///
/// Blocking; several processes may call it at once, so it holds an exclusive
/// lock on `<target>/<name>.lock` throughout. A stamp file holding the contents
/// of the requirements file marks a finished install; a changed requirements
/// file rebuilds the venv from scratch.
pub fn ensure_venv(name: &str, requirements_path: &Path) -> Result<PathBuf, HarnessError> {
    let target = workspace_root().join("target");
    let venv = target.join(name);
    let requirements = fs::read_to_string(requirements_path)
        .map_err(|e| HarnessError::io(format!("reading {}", requirements_path.display()), e))?;
    fs::create_dir_all(&target).map_err(|e| HarnessError::io(format!("creating {}", target.display()), e))?;

    let lock_path = target.join(format!("{name}.lock"));
    let lock = File::create(&lock_path).map_err(|e| HarnessError::io(format!("opening {}", lock_path.display()), e))?;
    lock.lock()
        .map_err(|e| HarnessError::io(format!("locking {}", lock_path.display()), e))?;

    let stamp = venv.join(".janitor-requirements.stamp");
    let python = venv.join("bin").join("python");
    if python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(&requirements) {
        return Ok(venv);
    }

    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| HarnessError::io(format!("removing stale {}", venv.display()), e))?;
    }
    run_checked(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "python3 -m venv",
    )?;
    run_checked(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r"])
            .arg(requirements_path),
        &format!("pip install -r {}", requirements_path.display()),
    )?;
    fs::write(&stamp, &requirements).map_err(|e| HarnessError::io(format!("writing {}", stamp.display()), e))?;
    Ok(venv)
    // `lock` is released when dropped here.
}
