"""sigkit as a package: `import sigkit` leaves the process as it found it, the commands keep
TensorFlow's start-up lines off the console, and the wheel holds what an installed sigkit needs."""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import sigkit
from sigkit import synth

REPO = Path(__file__).resolve().parents[1]
TF_START_UP = ("absl::InitializeLog", "oneDNN")  # lines TensorFlow's C++ side writes to descriptor 2 on import


def clean_env(**extra) -> dict:
    """This environment without the settings sigkit or its caller may have made, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "SIGKIT_HOME", "PYTHONPATH")}
    return {**env, **extra}


def test_import_sigkit_leaves_stderr_and_the_environment_as_they_were():
    code = (
        "import json, os, sys\n"
        "fd2, env = os.fstat(2), dict(os.environ)\n"
        "import sigkit\n"
        "changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k))\n"
        "os.write(2, b'still here\\n')\n"
        "print(json.dumps({'fd2': os.fstat(2) == fd2, 'changed': changed, 'tf': 'tensorflow' in sys.modules}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"fd2": True, "changed": [], "tf": False}
    assert done.stderr == "still here\n"


def test_submodules_load_on_first_use():
    code = "import sys, sigkit\nprint('sigkit.literature' in sys.modules, len(sigkit.literature.COLUMNS))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", str(len(sigkit.literature.COLUMNS))]
    with pytest.raises(AttributeError, match="no_such_part"):
        sigkit.no_such_part


def test_no_corpora_folder_is_assumed(tmp_path, monkeypatch):
    from sigkit.paths import cedar_path, corpora_folder, corpus_path

    monkeypatch.delenv("SIGKIT_DATA", raising=False)
    monkeypatch.delenv("SIGKIT_CEDAR", raising=False)
    assert (corpora_folder(), corpus_path("cedar"), cedar_path()) == (None, None, None)
    (tmp_path / "cedar" / "full_org").mkdir(parents=True)
    assert corpus_path("cedar", tmp_path) == tmp_path.resolve() / "cedar" and corpus_path("gpds", tmp_path) is None
    monkeypatch.setenv("SIGKIT_DATA", str(tmp_path))
    assert corpora_folder() == tmp_path.resolve() and cedar_path() == tmp_path.resolve() / "cedar"


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """Three small synthetic signatures of one writer: two references and a questioned one."""
    folder = synth.generate(tmp_path_factory.mktemp("synth"), n_writers=1, n_genuine=3, n_forged=1, seed=3)
    return sorted((folder / "full_org").glob("original_1_*.png"))


def verify_command(scans) -> list[str]:
    references, questioned = [str(p) for p in scans[:2]], str(scans[2])
    return [sys.executable, "-m", "sigkit.cli", "verify", "--reference", *references, "--questioned", questioned]


def assert_a_quiet_verdict(done: subprocess.CompletedProcess) -> None:
    assert done.returncode in (0, 1), done.stderr
    verdict, *explained = done.stdout.strip().splitlines()  # the verdict, then where its threshold comes from
    assert "threshold" in verdict and verdict.endswith("GENUINE" if done.returncode == 0 else "FORGED")
    assert explained and explained[0].startswith("threshold chosen for 2 references")
    assert not [line for line in done.stderr.splitlines() if any(s in line for s in TF_START_UP)], done.stderr


@pytest.mark.slow
def test_the_command_keeps_tensorflow_start_up_lines_off_the_console(scans):
    done = subprocess.run(verify_command(scans), cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert_a_quiet_verdict(done)


def build_requirements_met() -> str | None:
    """None when this environment can build the wheel offline, else why not."""
    from packaging.requirements import Requirement

    for line in tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]:
        need = Requirement(line)
        try:
            have = importlib.metadata.version(need.name)
        except importlib.metadata.PackageNotFoundError:
            have = None
        if have is None or not need.specifier.contains(have, prereleases=True):
            return f"building sigkit offline needs {need} (found {have}): pip install -r requirements.txt"
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from this working tree, without network and without writing into it."""
    problem = build_requirements_met()
    if problem:
        pytest.skip(problem)
    work = tmp_path_factory.mktemp("build")
    source = work / "source"  # a copy: the build writes build/ and *.egg-info/ where it runs
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "sigkit", source / "sigkit", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = pip + ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(work / "dist"), str(source)]
    done = subprocess.run(build, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (work / "dist").glob("sigkit-*.whl")
    return built


def test_the_wheel_holds_every_module_and_the_shipped_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "sigkit").rglob("*.py")}
    assert modules and modules <= names, sorted(modules - names)
    data = {f"sigkit/shipped/{name}" for name in ("tower.keras", "tower.json", "background.npz")}
    assert data | {"sigkit/literature.csv"} <= names
    assert wheel.name.startswith(f"sigkit-{sigkit.__version__}-")
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "sigkit = sigkit.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_the_installed_wheel_draws_the_chart_and_verifies_outside_the_checkout(wheel, scans, tmp_path):
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    install = [sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--no-deps", "--no-index"]
    done = subprocess.run(install + ["--target", str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    env = clean_env(PYTHONPATH=str(target))
    code = (
        "import json, matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import sigkit\n"
        "from sigkit import literature, paths\n"
        "literature.comparison_chart(literature.load_literature()).savefig('chart.png')\n"
        "print(json.dumps({'file': sigkit.__file__, 'root': str(paths.project_root())}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["file"]).resolve().is_relative_to(target.resolve())
    assert Path(found["root"]).resolve() == elsewhere.resolve()  # not site-packages: runs land where you are
    assert (elsewhere / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    done = subprocess.run(verify_command(scans), cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert_a_quiet_verdict(done)
