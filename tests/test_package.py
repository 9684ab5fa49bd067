"""sigkit as a package: `import sigkit` leaves the process as it found it, the commands keep
TensorFlow's start-up lines off the console, and no data folder is assumed."""

import json
import os
import subprocess
import sys
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
    verdict = done.stdout.strip().splitlines()[-1]
    assert "threshold" in verdict and verdict.endswith("GENUINE" if done.returncode == 0 else "FORGED")
    assert not [line for line in done.stderr.splitlines() if any(s in line for s in TF_START_UP)], done.stderr


@pytest.mark.slow
def test_the_command_keeps_tensorflow_start_up_lines_off_the_console(scans):
    done = subprocess.run(verify_command(scans), cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert_a_quiet_verdict(done)
