//! `cargo xtask package`: the Lambda artifact.
//!
//! Builds the `bootstrap` binary (crate `iam-janitor`) in release mode as a static musl
//! executable for the Lambda architecture (`arm64`, the default, or `x86_64`), zips it
//! reproducibly into `target/lambda/<arch>/bootstrap.zip`: one entry `bootstrap`, mode
//! 0755, deflated, dated 1980-01-01 00:00, no extra fields; and checks the zip's entry as
//! `deploy --zip` checks a zip it is given ([`check_bootstrap`]). The
//! same binary always gives the same zip bytes, so the zip's sha256 names it in S3
//! ([`artifact_key`]).
//!
//! On a fresh machine it installs what it needs: the Rust standard library for the
//! target (`rustup target add`) and, in `target/build-venv`, ziglang and cargo-zigbuild
//! (pinned in `xtask/build-requirements.txt`), which give aws-lc-sys a C compiler for
//! the target. Only Rust (rustup) and Python 3 with `venv` are needed. Zig's and
//! cargo-zigbuild's caches live under `target/`, not `~/.cache`.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{Cursor, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, anyhow, bail, ensure};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipArchive, ZipWriter};

/// The name Lambda runs for `provided.al2023`, and the one entry of the zip.
pub const ENTRY_NAME: &str = "bootstrap";
/// The zip entry's Unix mode: a regular file, rwxr-xr-x.
pub const ENTRY_MODE: u32 = 0o100_755;

/// A Lambda instruction set architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// Graviton (the default: cheaper per GB-second)
    #[value(name = "arm64")]
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

impl Arch {
    /// The name Lambda and CloudFormation use (`Architectures: [arm64]`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }

    /// The Rust target: static musl.
    pub fn triple(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-musl",
            Arch::X86_64 => "x86_64-unknown-linux-musl",
        }
    }

    /// ELF `e_machine`.
    pub fn e_machine(self) -> u16 {
        match self {
            Arch::Arm64 => EM_AARCH64,
            Arch::X86_64 => EM_X86_64,
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, clap::Args)]
pub struct PackageArgs {
    /// Lambda architecture to build for
    #[arg(long, value_enum, default_value_t = Arch::Arm64)]
    pub arch: Arch,
}

/// A packaged Lambda zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `target/lambda/<arch>/bootstrap.zip`
    pub path: PathBuf,
    /// Size of the zip in bytes.
    pub size: u64,
    /// sha256 of the zip, lowercase hex.
    pub sha256: String,
}

impl Artifact {
    /// The content-addressed S3 key of this zip.
    pub fn key(&self) -> String {
        artifact_key(&self.sha256)
    }
}

/// The S3 key a zip with this sha256 (lowercase hex) is uploaded to. Content-addressed:
/// a new build is a new key, an unchanged build the same key.
pub fn artifact_key(sha256_hex: &str) -> String {
    format!("iam-janitor/{sha256_hex}.zip")
}

pub fn run(args: PackageArgs) -> anyhow::Result<()> {
    let artifact = build_and_zip(args.arch)?;
    println!("zip:    {}", artifact.path.display());
    println!("size:   {} bytes", artifact.size);
    println!("sha256: {}", artifact.sha256);
    println!("s3 key: {}", artifact.key());
    Ok(())
}

/// Builds the release `bootstrap` for `arch`, checks it is a static ELF executable for
/// that architecture, and writes `target/lambda/<arch>/bootstrap.zip`. Progress goes to
/// stderr.
pub fn build_and_zip(arch: Arch) -> anyhow::Result<Artifact> {
    let root = iam_janitor_harness::workspace_root();
    let target_dir = target_dir(&root);
    let started = Instant::now();

    ensure_rust_target(&root, arch)?;
    let venv_bin = ensure_build_venv(&root)?;
    let build = zigbuild_command(&root, &target_dir, &venv_bin, arch)?;
    step(build, "cargo zigbuild")?;

    let binary = target_dir.join(arch.triple()).join("release").join(ENTRY_NAME);
    let bytes = fs::read(&binary).with_context(|| format!("reading the built binary {}", binary.display()))?;
    let zipped = zip_bootstrap(&bytes)?;
    // What deploy checks in a zip it is given, here on the zip just made: the entry's bytes
    // and its mode.
    let (entry, mode) = read_bootstrap(&zipped).context("reading back the zip just made")?;
    check_bootstrap(&entry, mode, arch)
        .with_context(|| format!("{} is not a Lambda bootstrap for {arch}", binary.display()))?;
    eprintln!(
        "==> {}: {} bytes, static ELF for {arch} ({:.0?} so far)",
        binary.display(),
        bytes.len(),
        started.elapsed()
    );

    let sha256 = sha256_hex(&zipped);
    let path = target_dir.join("lambda").join(arch.name()).join("bootstrap.zip");
    write_atomically(&path, &zipped)?;
    Ok(Artifact {
        path,
        size: u64::try_from(zipped.len()).context("zip size")?,
        sha256,
    })
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace root) or
/// `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// `rustc` of the toolchain that runs us (`RUSTC` if set; rustup's proxy honours the
/// workspace's rust-toolchain.toml because commands run in the workspace root).
fn rustc() -> Command {
    Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc")))
}

/// Shows a command as a shell line, the environment it sets first.
pub fn describe(command: &Command) -> String {
    let mut line = String::new();
    for (key, value) in command.get_envs() {
        let key = key.to_string_lossy();
        match value {
            Some(_) if key == "PATH" => {
                let _ = write!(line, "PATH=<{} first>:$PATH ", first_path(command).unwrap_or_default());
            }
            Some(value) => {
                let _ = write!(line, "{key}={} ", value.to_string_lossy());
            }
            None => {
                let _ = write!(line, "-u {key} ");
            }
        }
    }
    line.push_str(&command.get_program().to_string_lossy());
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

fn first_path(command: &Command) -> Option<String> {
    let (_, value) = command.get_envs().find(|(key, _)| *key == "PATH")?;
    let first = std::env::split_paths(value?).next()?;
    Some(first.display().to_string())
}

fn step(mut command: Command, what: &str) -> anyhow::Result<()> {
    eprintln!("==> {}", describe(&command));
    let started = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("could not start {what} ({})", describe(&command)))?;
    if !status.success() {
        bail!("{what} failed ({status}); the command was:\n    {}", describe(&command));
    }
    eprintln!("==> {what} took {:.1?}", started.elapsed());
    Ok(())
}

/// `rustup target add <triple>`, unless the standard library for the target is there.
fn ensure_rust_target(root: &Path, arch: Arch) -> anyhow::Result<()> {
    let triple = arch.triple();
    let mut libdir = rustc();
    libdir
        .args(["--print", "target-libdir", "--target", triple])
        .current_dir(root)
        .stdin(Stdio::null());
    let output = libdir.output().with_context(|| {
        format!(
            "could not run `{}`: install Rust with rustup (https://rustup.rs)",
            describe(&libdir)
        )
    })?;
    ensure!(
        output.status.success(),
        "`{}` failed: {}",
        describe(&libdir),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if path.is_dir() {
        return Ok(());
    }
    let mut add = rustup_target_add(root, triple);
    let run = step_status(&mut add);
    match run {
        Ok(status) if status.success() && path.is_dir() => Ok(()),
        Ok(status) => bail!(
            "`{}` failed ({status}); the Rust standard library for {triple} is needed (expected in {})",
            describe(&add),
            path.display()
        ),
        Err(e) => bail!(
            "the Rust standard library for {triple} is not installed ({} is missing) and `rustup` could not be run ({e}): \
             install Rust with rustup (https://rustup.rs), or install that target's standard library for this toolchain",
            path.display()
        ),
    }
}

fn step_status(command: &mut Command) -> std::io::Result<std::process::ExitStatus> {
    eprintln!("==> {}", describe(command));
    command.status()
}

/// The command that installs the standard library for `triple`.
pub fn rustup_target_add(root: &Path, triple: &str) -> Command {
    let mut command = Command::new("rustup");
    command
        .args(["target", "add", triple])
        .current_dir(root)
        .stdin(Stdio::null());
    command
}

/// `target/build-venv` with ziglang and cargo-zigbuild; returns its `bin` directory.
fn ensure_build_venv(root: &Path) -> anyhow::Result<PathBuf> {
    let requirements = root.join("xtask").join("build-requirements.txt");
    eprintln!(
        "==> ziglang and cargo-zigbuild in target/build-venv ({})",
        requirements.display()
    );
    let venv = iam_janitor_harness::ensure_venv("build-venv", &requirements).with_context(|| {
        format!(
            "installing the C cross-compiler (ziglang and cargo-zigbuild, pinned in {}) into target/build-venv; \
             this needs Python 3 with the venv module and pip (Debian/Ubuntu: `apt-get install python3 python3-venv`) \
             and access to PyPI",
            requirements.display()
        )
    })?;
    let bin = venv.join("bin");
    let zigbuild = bin.join("cargo-zigbuild");
    ensure!(
        zigbuild.is_file(),
        "{} is missing after installing {}; delete target/build-venv and retry",
        zigbuild.display(),
        requirements.display()
    );
    // cargo-zigbuild finds zig as `python3 -m ziglang` (the venv's python3, first on PATH).
    let mut zig = Command::new(bin.join("python3"));
    zig.args(["-m", "ziglang", "version"]).stdin(Stdio::null());
    let output = zig
        .output()
        .with_context(|| format!("could not run `{}`", describe(&zig)))?;
    ensure!(
        output.status.success(),
        "zig does not run (`{}`: {}); the ziglang wheel may not support this machine: {}",
        describe(&zig),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    eprintln!("==> zig {}", String::from_utf8_lossy(&output.stdout).trim());
    Ok(bin)
}

/// `cargo zigbuild --release -p iam-janitor --bin bootstrap --target <triple>`, with the
/// build venv first on PATH and zig's and cargo-zigbuild's caches under the target
/// directory.
pub fn zigbuild_command(root: &Path, target_dir: &Path, venv_bin: &Path, arch: Arch) -> anyhow::Result<Command> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(venv_bin.to_path_buf()).chain(std::env::split_paths(&path)))
        .context("building PATH with the build venv first")?;
    let cache = target_dir.join("build-cache");
    let mut command = cargo();
    command
        .args([
            "zigbuild",
            "--release",
            "-p",
            "iam-janitor",
            "--bin",
            ENTRY_NAME,
            "--target",
        ])
        .arg(arch.triple())
        .current_dir(root)
        .stdin(Stdio::null())
        .env("PATH", path)
        .env("XDG_CACHE_HOME", &cache)
        .env("ZIG_GLOBAL_CACHE_DIR", cache.join("zig"))
        .env("ZIG_LOCAL_CACHE_DIR", cache.join("zig-local"));
    Ok(command)
}

// ---------------------------------------------------------------------------
// ELF check
// ---------------------------------------------------------------------------

pub const EM_X86_64: u16 = 0x3E;
pub const EM_AARCH64: u16 = 0xB7;
const EM_386: u16 = 3;
const EM_ARM: u16 = 40;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;

fn u16_at(bytes: &[u8], offset: usize) -> anyhow::Result<u16> {
    let slice = bytes
        .get(offset..offset.saturating_add(2))
        .with_context(|| format!("truncated ELF: no 2 bytes at offset {offset}"))?;
    Ok(u16::from_le_bytes([slice[0], slice[1]]))
}

fn u32_at(bytes: &[u8], offset: usize) -> anyhow::Result<u32> {
    let slice = bytes
        .get(offset..offset.saturating_add(4))
        .with_context(|| format!("truncated ELF: no 4 bytes at offset {offset}"))?;
    let mut buf = [0u8; 4];
    buf.copy_from_slice(slice);
    Ok(u32::from_le_bytes(buf))
}

fn u64_at(bytes: &[u8], offset: usize) -> anyhow::Result<u64> {
    let slice = bytes
        .get(offset..offset.saturating_add(8))
        .with_context(|| format!("truncated ELF: no 8 bytes at offset {offset}"))?;
    let mut buf = [0u8; 8];
    buf.copy_from_slice(slice);
    Ok(u64::from_le_bytes(buf))
}

fn offset(value: u64, what: &str) -> anyhow::Result<usize> {
    usize::try_from(value).with_context(|| format!("ELF {what} {value} does not fit in memory"))
}

/// What an ELF `e_machine` is, for messages.
fn machine_name(machine: u16) -> &'static str {
    match machine {
        EM_X86_64 => "x86_64",
        EM_AARCH64 => "arm64",
        EM_386 => "32-bit x86",
        EM_ARM => "32-bit ARM",
        _ => "another machine",
    }
}

/// Lambda runs `bootstrap` as a user other than the file's owner, so everyone must be
/// able to read and execute it.
const EXECUTABLE_BY_ALL: u32 = 0o555;
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
/// Lambda's limit on the unzipped size of a function's code.
const MAX_UNZIPPED: u64 = 250 * 1024 * 1024;

/// Checks that a `bootstrap` is what Lambda can run on `arch`: its bytes pass
/// [`check_elf`], and its Unix mode (`None`: it has none, as in a zip made on Windows)
/// is a regular file that everyone may read and execute, such as 0755. The one check of
/// both `package` (on the zip it makes) and `deploy --zip` (on the zip it is given).
pub fn check_bootstrap(bytes: &[u8], mode: Option<u32>, arch: Arch) -> anyhow::Result<()> {
    check_elf(bytes, arch)?;
    let Some(mode) = mode else {
        bail!(
            "it has no Unix file mode (the zip was made without Unix permissions, e.g. on Windows), so Lambda \
             could not execute it: make the zip with `cargo xtask package`, or on Linux or macOS after \
             `chmod 755 bootstrap`"
        );
    };
    let kind = mode & S_IFMT;
    ensure!(
        kind == 0 || kind == S_IFREG,
        "it is not a regular file (mode {mode:o}; a symbolic link or a directory?)"
    );
    let permissions = mode & 0o7777;
    ensure!(
        permissions & EXECUTABLE_BY_ALL == EXECUTABLE_BY_ALL,
        "its mode is {permissions:04o}, not readable and executable by everyone: Lambda runs bootstrap as \
         another user, so it needs mode 0755 (`chmod 755 bootstrap` before zipping)"
    );
    Ok(())
}

/// The `bootstrap` at the root of a Lambda zip: its bytes, and its Unix mode if the zip
/// records one (`None` for an entry made on Windows or without permissions).
pub fn read_bootstrap(zip: &[u8]) -> anyhow::Result<(Vec<u8>, Option<u32>)> {
    let mut archive = ZipArchive::new(Cursor::new(zip)).context("it is not a zip file")?;
    let entry = archive.by_name(ENTRY_NAME).map_err(|_| {
        anyhow!(
            "it has no `bootstrap` at its root: the provided.al2023 runtime runs ./bootstrap (`cargo xtask \
             package` builds such a zip)"
        )
    })?;
    // The zip crate gives DOS-made entries a made-up mode (0664); only a Unix mode counts.
    let mode = match entry.system() {
        System::Unix => entry.unix_mode().filter(|mode| *mode != 0),
        _ => None,
    };
    ensure!(
        entry.size() <= MAX_UNZIPPED,
        "its bootstrap is {} bytes unzipped, over Lambda's limit of {MAX_UNZIPPED}",
        entry.size()
    );
    let mut bytes = Vec::new();
    entry
        .take(MAX_UNZIPPED + 1)
        .read_to_end(&mut bytes)
        .context("cannot unzip its bootstrap")?;
    ensure!(
        bytes.len() as u64 <= MAX_UNZIPPED,
        "its bootstrap is over Lambda's limit of {MAX_UNZIPPED} bytes unzipped"
    );
    Ok((bytes, mode))
}

/// Checks that `bytes` is what Lambda can run as `bootstrap` on `arch`: a 64-bit
/// little-endian ELF executable for that machine, statically linked (no program
/// interpreter, no needed shared libraries).
pub fn check_elf(bytes: &[u8], arch: Arch) -> anyhow::Result<()> {
    ensure!(bytes.get(..4) == Some(b"\x7fELF".as_slice()), "not an ELF file");
    ensure!(bytes.len() >= 64, "truncated ELF header ({} bytes)", bytes.len());
    ensure!(bytes[4] == 2, "not a 64-bit ELF (EI_CLASS {})", bytes[4]);
    ensure!(bytes[5] == 1, "not a little-endian ELF (EI_DATA {})", bytes[5]);
    let e_type = u16_at(bytes, 16)?;
    // ET_EXEC, or ET_DYN for a static position-independent executable (Rust's musl default).
    ensure!(e_type == 2 || e_type == 3, "not an executable (e_type {e_type})");
    let machine = u16_at(bytes, 18)?;
    ensure!(
        machine == arch.e_machine(),
        "it is built for {} (ELF machine {machine}), not {arch} (ELF machine {})",
        machine_name(machine),
        arch.e_machine()
    );

    let phoff = offset(u64_at(bytes, 32)?, "e_phoff")?;
    let phentsize = usize::from(u16_at(bytes, 54)?);
    let phnum = usize::from(u16_at(bytes, 56)?);
    ensure!(phnum > 0, "no program headers");
    ensure!(
        phentsize >= 56,
        "program header entries of {phentsize} bytes, expected 56"
    );
    let table_end = phnum
        .checked_mul(phentsize)
        .and_then(|size| size.checked_add(phoff))
        .context("program header table offset overflow")?;
    ensure!(
        table_end <= bytes.len(),
        "truncated ELF: the program headers end at {table_end}, past the end of the file ({} bytes)",
        bytes.len()
    );
    for index in 0..phnum {
        let header = phoff
            .checked_add(index.checked_mul(phentsize).context("program header offset overflow")?)
            .context("program header offset overflow")?;
        let p_type = u32_at(bytes, header)?;
        if p_type == PT_INTERP {
            bail!("dynamically linked: it has a program interpreter (PT_INTERP)");
        }
        if p_type == PT_DYNAMIC {
            let start = offset(u64_at(bytes, header.saturating_add(8))?, "p_offset")?;
            let size = offset(u64_at(bytes, header.saturating_add(32))?, "p_filesz")?;
            let end = start.checked_add(size).context("PT_DYNAMIC overflow")?;
            ensure!(end <= bytes.len(), "truncated ELF: PT_DYNAMIC ends past the file");
            let mut entry = start;
            while entry + 16 <= end {
                let tag = u64_at(bytes, entry)?;
                if tag == DT_NULL {
                    break;
                }
                if tag == DT_NEEDED {
                    bail!("dynamically linked: it needs shared libraries (DT_NEEDED)");
                }
                entry += 16;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The zip
// ---------------------------------------------------------------------------

/// The Lambda zip of this binary: one deflated entry `bootstrap`, mode 0755, made on
/// Unix, dated 1980-01-01 00:00, without extra fields or comments. A pure function of
/// `binary`: nothing from the clock, the file system or the host goes in.
pub fn zip_bootstrap(binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(DateTime::default())
        .unix_permissions(ENTRY_MODE)
        .system(System::Unix)
        .large_file(false);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file(ENTRY_NAME, options)
        .context("starting the zip entry")?;
    writer.write_all(binary).context("compressing bootstrap")?;
    Ok(writer.finish().context("finishing the zip")?.into_inner())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Writes `bytes` to a temporary file next to `path` and renames it, so a reader never
/// sees half a zip.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("the zip path has no parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!(".bootstrap.zip.{}.tmp", std::process::id()));
    fs::write(&temporary, bytes).with_context(|| format!("writing {}", temporary.display()))?;
    fs::rename(&temporary, path).with_context(|| format!("renaming {} to {}", temporary.display(), path.display()))
}

/// Synthetic ELF files for the tests of `package` and `deploy`.
#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::{Arch, PT_INTERP};

    pub(crate) const ET_EXEC: u16 = 2;
    pub(crate) const ET_DYN: u16 = 3;

    /// A minimal ELF64 little-endian file: the 64-byte header, then `segments` program
    /// headers (type, file offset, file size), then `payload`.
    pub(crate) fn elf(class: u8, e_type: u16, machine: u16, segments: &[(u32, u64, u64)], payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = class;
        bytes[5] = 1; // little-endian
        bytes[6] = 1; // EV_CURRENT
        bytes[16..18].copy_from_slice(&e_type.to_le_bytes());
        bytes[18..20].copy_from_slice(&machine.to_le_bytes());
        bytes[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        bytes[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        bytes[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        bytes[56..58].copy_from_slice(&u16::try_from(segments.len()).unwrap().to_le_bytes());
        for &(p_type, p_offset, p_filesz) in segments {
            let mut header = [0u8; 56];
            header[..4].copy_from_slice(&p_type.to_le_bytes());
            header[8..16].copy_from_slice(&p_offset.to_le_bytes());
            header[32..40].copy_from_slice(&p_filesz.to_le_bytes());
            bytes.extend_from_slice(&header);
        }
        bytes.extend_from_slice(payload);
        bytes
    }

    pub(crate) const PT_LOAD: u32 = 1;

    /// Where the payload starts for `n` program headers.
    pub(crate) fn payload_at(n: u64) -> u64 {
        64 + 56 * n
    }

    pub(crate) fn dynamic(entries: &[(u64, u64)]) -> Vec<u8> {
        entries
            .iter()
            .flat_map(|(tag, value)| tag.to_le_bytes().into_iter().chain(value.to_le_bytes()))
            .collect()
    }

    /// A static executable for `arch` (one PT_LOAD segment), then `payload`.
    pub(crate) fn static_elf(arch: Arch, payload: &[u8]) -> Vec<u8> {
        elf(2, ET_EXEC, arch.e_machine(), &[(PT_LOAD, 0, 64)], payload)
    }

    /// A dynamically linked executable for `arch`: it names a program interpreter.
    pub(crate) fn dynamic_elf(arch: Arch) -> Vec<u8> {
        let interpreter = b"/lib/ld-musl.so.1\0";
        elf(
            2,
            ET_DYN,
            arch.e_machine(),
            &[(PT_LOAD, 0, 64), (PT_INTERP, payload_at(2), interpreter.len() as u64)],
            interpreter,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::fs::FileTimes;
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, SystemTime};

    use zip::ZipArchive;

    use super::testing::*;
    use super::*;

    #[test]
    fn accepts_static_executables_for_the_right_machine() {
        let arm = elf(2, ET_EXEC, EM_AARCH64, &[(PT_LOAD, 0, 64)], &[]);
        check_elf(&arm, Arch::Arm64).unwrap();
        let x86 = elf(2, ET_EXEC, EM_X86_64, &[(PT_LOAD, 0, 64)], &[]);
        check_elf(&x86, Arch::X86_64).unwrap();
        // A static-pie (Rust's musl default): ET_DYN with a dynamic section but no
        // interpreter and no needed libraries.
        let table = dynamic(&[(0x6fff_fffb, 0x0800_0001), (DT_NULL, 0)]);
        let pie = elf(
            2,
            ET_DYN,
            EM_AARCH64,
            &[(PT_LOAD, 0, 64), (PT_DYNAMIC, payload_at(2), table.len() as u64)],
            &table,
        );
        check_elf(&pie, Arch::Arm64).unwrap();
    }

    #[test]
    fn rejects_the_wrong_machine() {
        let arm = elf(2, ET_EXEC, EM_AARCH64, &[(PT_LOAD, 0, 64)], &[]);
        let err = check_elf(&arm, Arch::X86_64).unwrap_err().to_string();
        assert_eq!(
            err,
            "it is built for arm64 (ELF machine 183), not x86_64 (ELF machine 62)"
        );
        let x86 = elf(2, ET_EXEC, EM_X86_64, &[(PT_LOAD, 0, 64)], &[]);
        let err = check_elf(&x86, Arch::Arm64).unwrap_err().to_string();
        assert_eq!(
            err,
            "it is built for x86_64 (ELF machine 62), not arm64 (ELF machine 183)"
        );
        let arm32 = elf(2, ET_EXEC, 40, &[(PT_LOAD, 0, 64)], &[]);
        let err = check_elf(&arm32, Arch::Arm64).unwrap_err().to_string();
        assert!(err.contains("32-bit ARM (ELF machine 40)"), "{err}");
    }

    #[test]
    fn rejects_dynamically_linked_executables() {
        let interp = elf(
            2,
            ET_DYN,
            EM_X86_64,
            &[(PT_LOAD, 0, 64), (PT_INTERP, payload_at(2), 28)],
            b"/lib64/ld-linux-x86-64.so.2\0",
        );
        let err = check_elf(&interp, Arch::X86_64).unwrap_err().to_string();
        assert!(err.contains("PT_INTERP"), "{err}");

        let table = dynamic(&[(DT_NEEDED, 1), (DT_NULL, 0)]);
        let needed = elf(
            2,
            ET_DYN,
            EM_X86_64,
            &[(PT_DYNAMIC, payload_at(1), table.len() as u64)],
            &table,
        );
        let err = check_elf(&needed, Arch::X86_64).unwrap_err().to_string();
        assert!(err.contains("DT_NEEDED"), "{err}");
    }

    #[test]
    fn rejects_what_is_not_a_64_bit_executable() {
        let err = check_elf(b"#!/bin/sh\necho hi\n", Arch::X86_64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an ELF"), "{err}");
        let err = check_elf(b"\x7fELF\x02\x01", Arch::X86_64).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let elf32 = elf(1, ET_EXEC, EM_X86_64, &[(PT_LOAD, 0, 64)], &[]);
        let err = check_elf(&elf32, Arch::X86_64).unwrap_err().to_string();
        assert!(err.contains("64-bit"), "{err}");
        let object = elf(2, 1, EM_X86_64, &[(PT_LOAD, 0, 64)], &[]);
        let err = check_elf(&object, Arch::X86_64).unwrap_err().to_string();
        assert!(err.contains("not an executable"), "{err}");
        let mut big_endian = elf(2, ET_EXEC, EM_X86_64, &[(PT_LOAD, 0, 64)], &[]);
        big_endian[5] = 2;
        let err = check_elf(&big_endian, Arch::X86_64).unwrap_err().to_string();
        assert!(err.contains("little-endian"), "{err}");
        // Program headers said to be past the end of the file.
        let mut cut = elf(2, ET_EXEC, EM_X86_64, &[(PT_LOAD, 0, 64)], &[]);
        cut.truncate(80);
        let err = check_elf(&cut, Arch::X86_64).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let mut far = elf(2, ET_EXEC, EM_X86_64, &[(PT_LOAD, 0, 64)], &[]);
        far[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(check_elf(&far, Arch::X86_64).is_err());
    }

    #[test]
    fn a_bootstrap_must_be_executable_by_everyone() {
        let binary = static_elf(Arch::Arm64, b"");
        for mode in [0o100_755, 0o755, 0o100_555, 0o100_775] {
            check_bootstrap(&binary, Some(mode), Arch::Arm64).unwrap();
        }
        for (mode, shown) in [
            (0o100_644, "0644"),
            (0o100_744, "0744"),
            (0o100_750, "0750"),
            (0, "0000"),
        ] {
            let err = check_bootstrap(&binary, Some(mode), Arch::Arm64)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("its mode is {shown}")) && err.contains("0755"),
                "{err}"
            );
        }
        let err = check_bootstrap(&binary, None, Arch::Arm64).unwrap_err().to_string();
        assert!(err.contains("no Unix file mode") && err.contains("Windows"), "{err}");
        let err = check_bootstrap(&binary, Some(0o120_777), Arch::Arm64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
        // The ELF checks come first, with or without a mode.
        let err = check_bootstrap(&binary, Some(0o100_755), Arch::X86_64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ELF machine 183"), "{err}");
        let err = check_bootstrap(&dynamic_elf(Arch::Arm64), Some(0o100_755), Arch::Arm64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dynamically linked"), "{err}");
    }

    #[test]
    fn the_bootstrap_is_read_back_from_a_zip_with_its_mode() {
        let binary = static_elf(Arch::X86_64, b"payload");
        let (bytes, mode) = read_bootstrap(&zip_bootstrap(&binary).unwrap()).unwrap();
        assert_eq!((bytes, mode), (binary.clone(), Some(ENTRY_MODE)));

        let zip_with = |name: &str, options: SimpleFileOptions| {
            let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
            writer.start_file(name, options).unwrap();
            writer.write_all(&binary).unwrap();
            writer.finish().unwrap().into_inner()
        };
        let windows = zip_with(
            ENTRY_NAME,
            SimpleFileOptions::default()
                .system(System::Dos)
                .external_attributes(0x20), // FILE_ATTRIBUTE_ARCHIVE
        );
        assert_eq!(read_bootstrap(&windows).unwrap().1, None);
        let private = zip_with(ENTRY_NAME, SimpleFileOptions::default().unix_permissions(0o600));
        assert_eq!(read_bootstrap(&private).unwrap().1, Some(0o100_600));

        let nested = zip_with("build/bootstrap", SimpleFileOptions::default());
        let err = read_bootstrap(&nested).unwrap_err().to_string();
        assert!(err.contains("no `bootstrap` at its root"), "{err}");
        let err = read_bootstrap(&binary).unwrap_err().to_string();
        assert!(err.contains("not a zip file"), "{err}");
    }

    /// This test binary is a real dynamically linked ELF (glibc host target).
    #[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
    #[test]
    fn rejects_this_dynamically_linked_test_binary() {
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        let err = check_elf(&me, Arch::X86_64).unwrap_err().to_string();
        assert!(err.contains("dynamically linked"), "{err}");
    }

    /// Zips the binary at `path` as `build_and_zip` does: reads it, zips the bytes.
    fn zip_file(path: &Path) -> Vec<u8> {
        zip_bootstrap(&fs::read(path).unwrap()).unwrap()
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = iam_janitor_harness::workspace_root()
            .join("target")
            .join("tmp")
            .join(format!("xtask-package-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn fake_binary() -> Vec<u8> {
        // Compressible and not: a header, text, and pseudo-random bytes.
        let mut bytes = elf(2, ET_EXEC, EM_X86_64, &[(PT_LOAD, 0, 64)], &[]);
        bytes.extend(b"iam-janitor ".repeat(5000));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        bytes.extend((0..200_000).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        }));
        bytes
    }

    #[test]
    fn the_zip_depends_only_on_the_binary_bytes() {
        let dir = scratch("repro");
        let binary = dir.join("bootstrap");
        let bytes = fake_binary();
        fs::write(&binary, &bytes).unwrap();
        let file = fs::File::options().write(true).open(&binary).unwrap();
        file.set_times(FileTimes::new().set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)))
            .unwrap();
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o644)).unwrap();
        let first = zip_file(&binary);

        // More than the 2 s resolution of zip times later, with another mtime and mode.
        std::thread::sleep(Duration::from_millis(2100));
        file.set_times(FileTimes::new().set_modified(SystemTime::now()))
            .unwrap();
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o700)).unwrap();
        let second = zip_file(&binary);

        assert_eq!(first, second, "two zips of the same binary differ");
        assert_eq!(sha256_hex(&first), sha256_hex(&second));
        assert!(
            first.len() < bytes.len(),
            "not compressed: {} >= {}",
            first.len(),
            bytes.len()
        );

        // Another binary gives another zip.
        let mut other = bytes.clone();
        other[100] ^= 1;
        assert_ne!(zip_bootstrap(&other).unwrap(), first);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_zip_holds_one_executable_bootstrap() {
        let bytes = fake_binary();
        let zipped = zip_bootstrap(&bytes).unwrap();
        let mut archive = ZipArchive::new(Cursor::new(&zipped)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode(), Some(0o100_755));
        assert_eq!(entry.compression(), CompressionMethod::Deflated);
        assert_eq!(entry.last_modified(), Some(DateTime::default()));
        assert!(entry.is_file());
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, bytes);
        drop(entry);

        // The raw records: no extra fields, made by Unix, mode in the external attributes,
        // DOS date 1980-01-01 00:00 (date 0x0021, time 0).
        let le16 = |at: usize| u16::from_le_bytes([zipped[at], zipped[at + 1]]);
        let le32 = |at: usize| u32::from_le_bytes([zipped[at], zipped[at + 1], zipped[at + 2], zipped[at + 3]]);
        assert_eq!(le32(0), 0x0403_4b50, "local file header first");
        assert_eq!((le16(10), le16(12)), (0, 0x0021), "local header time and date");
        assert_eq!(le16(26), 9, "local name length");
        assert_eq!(le16(28), 0, "local extra field length");
        assert_eq!(&zipped[30..39], b"bootstrap");
        let central = (0..zipped.len() - 4).find(|&at| le32(at) == 0x0201_4b50).unwrap();
        assert_eq!(zipped[central + 5], 3, "made by Unix");
        assert_eq!(
            (le16(central + 12), le16(central + 14)),
            (0, 0x0021),
            "central time and date"
        );
        assert_eq!(le16(central + 30), 0, "central extra field length");
        assert_eq!(le16(central + 32), 0, "file comment length");
        assert_eq!(le32(central + 38) >> 16, 0o100_755, "external attributes");
        let end = zipped.len() - 22;
        assert_eq!(le32(end), 0x0605_4b50, "end of central directory, no comment");
        assert_eq!(le16(end + 10), 1, "one entry");
    }

    #[test]
    fn the_key_is_content_addressed() {
        let sha = sha256_hex(b"abc");
        assert_eq!(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(artifact_key(&sha), format!("iam-janitor/{sha}.zip"));
        let artifact = Artifact {
            path: PathBuf::from("target/lambda/arm64/bootstrap.zip"),
            size: 3,
            sha256: sha.clone(),
        };
        assert_eq!(artifact.key(), artifact_key(&sha));
    }

    #[test]
    fn the_build_command_uses_the_venv_and_keeps_caches_in_target() {
        let root = Path::new("/work/ws");
        let command = zigbuild_command(
            root,
            &root.join("target"),
            Path::new("/work/ws/target/build-venv/bin"),
            Arch::Arm64,
        )
        .unwrap();
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            args,
            [
                "zigbuild",
                "--release",
                "-p",
                "iam-janitor",
                "--bin",
                "bootstrap",
                "--target",
                "aarch64-unknown-linux-musl"
            ]
        );
        assert_eq!(command.get_current_dir(), Some(root));
        let env = |name: &str| {
            command
                .get_envs()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v)
                .map(|v| v.to_string_lossy().into_owned())
        };
        let path = env("PATH").unwrap();
        assert!(path.starts_with("/work/ws/target/build-venv/bin"), "{path}");
        assert_eq!(env("XDG_CACHE_HOME").unwrap(), "/work/ws/target/build-cache");
        assert!(env("ZIG_GLOBAL_CACHE_DIR").unwrap().starts_with("/work/ws/target/"));
        let shown = describe(&command);
        assert!(
            shown.contains("PATH=</work/ws/target/build-venv/bin first>:$PATH"),
            "{shown}"
        );
        assert!(
            shown.ends_with("zigbuild --release -p iam-janitor --bin bootstrap --target aarch64-unknown-linux-musl"),
            "{shown}"
        );

        let x86 = zigbuild_command(root, &root.join("target"), Path::new("/v/bin"), Arch::X86_64).unwrap();
        assert_eq!(
            x86.get_args().last().unwrap().to_string_lossy(),
            "x86_64-unknown-linux-musl"
        );
        let add = rustup_target_add(root, Arch::X86_64.triple());
        assert_eq!(describe(&add), "rustup target add x86_64-unknown-linux-musl");
    }

    #[test]
    fn arch_names_match_lambda_and_clap() {
        use clap::ValueEnum;
        assert_eq!(Arch::from_str("arm64", false).unwrap(), Arch::Arm64);
        assert_eq!(Arch::from_str("x86_64", false).unwrap(), Arch::X86_64);
        assert_eq!((Arch::Arm64.e_machine(), Arch::X86_64.e_machine()), (0xB7, 0x3E));
        assert_eq!(Arch::Arm64.to_string(), "arm64");
    }
}
