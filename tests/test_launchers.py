"""The README's ways to open the course (make lab, make explore, ddpm-edu lab) start and serve their page, both as root
(a container's, a cloud VM's or a lab image's shell, where JupyterLab refuses to start without --allow-root) and as
another user: each is started, its page fetched (HTTP 200) and stopped.

"Another user", from a root shell, is the same process in a fresh user namespace (``unshare --user``, user id 1000
inside, root outside): JupyterLab's own root check sees a normal user, while the process can still read the checkout
and the venv, wherever CI put them."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent
IS_ROOT = os.geteuid() == 0
MESSAGE = "running as root"


AS_USER = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]


def _can_unshare() -> bool:
    return shutil.which("unshare") is not None and \
        subprocess.run([*AS_USER, "true"], capture_output=True).returncode == 0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(launcher: str, port: int, folder: Path) -> list:
    # make -o: the venv's install stamp is taken as up to date (this test never installs anything)
    make = ["make", "-s", "-C", str(ROOT), f"VENV={VENV}", "-o", f"{VENV}/.installed"]
    lab_args = f"--no-browser --port={port} --ServerApp.port_retries=0 --IdentityProvider.token="
    if launcher == "make lab":
        return [*make, "lab", f"LAB_ARGS={lab_args}"]
    if launcher == "make explore":
        return [*make, "explore", f"VOILA_ARGS=--no-browser --port={port}"]
    return [sys.executable, "-m", "ddpm_edu", "lab", str(folder / "course")]


def _get(url: str, proc, seconds: float = 90.0) -> int:
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        if proc.poll() is not None:
            return -proc.returncode if proc.returncode else -1
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                return reply.status
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.5)
    return 0


@pytest.mark.parametrize("as_root", [True, False], ids=["root", "user"])
@pytest.mark.parametrize("launcher", ["make lab", "make explore", "ddpm-edu lab"])
def test_opens_the_course(launcher, as_root, tmp_path):
    if as_root and not IS_ROOT:
        pytest.skip("this test runs as a normal user and cannot become root")
    if IS_ROOT and not as_root and not _can_unshare():
        pytest.skip("running as root, and `unshare --user --map-user` is not available to run as another user")
    if launcher.startswith("make") and shutil.which("make") is None:
        pytest.skip("make is not installed")
    port = _port()
    config = tmp_path / "config"          # ddpm-edu lab's server options, and no browser, for every launcher
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"port": port, "port_retries": 0, "open_browser": False},
        "IdentityProvider": {"token": ""}}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    command = _command(launcher, port, tmp_path)
    if IS_ROOT and not as_root:
        command = [*AS_USER, *command]
    log = tmp_path / "log.txt"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                cwd=tmp_path)
    try:
        page = "/" if launcher == "make explore" else "/lab"
        status = _get(f"http://127.0.0.1:{port}{page}", proc)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert status == 200, f"{launcher} as {'root' if as_root else 'a user'}: got {status}; its output:\n{text[-3000:]}"
    if launcher != "make explore":       # Voila starts as root without being told
        assert (MESSAGE in text) == as_root, text[-3000:]
