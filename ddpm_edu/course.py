"""The course itself: where its notebooks are, and copying them into a student's folder.

The notebooks ship inside the package (``ddpm_edu/notebooks`` in the wheel and the sdist, stored without
outputs); in a clone of the repository they are the top-level ``notebooks/`` folder. ``ddpm-edu
notebooks DIR`` copies them into DIR and never overwrites a notebook the student has changed: it keeps it
and says so, and ``--force`` replaces it only after saving a backup beside it.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ._checks import bad, bad_type, check_bool

DEFAULT_DIR = "ddpm-edu-notebooks"
MANIFEST = ".ddpm-edu-copied"          # in the student's folder: name and hash of each notebook as copied


def notebook_dir() -> Path:
    """The folder holding the course's notebooks: inside the installed package, or the clone's ``notebooks/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "notebooks", here.parent / "notebooks"):
        if any(candidate.glob("*.ipynb")):
            return candidate
    raise FileNotFoundError(f"the course's notebooks are missing: looked in {here / 'notebooks'} and "
                            f"{here.parent / 'notebooks'} (reinstall ddpm-edu)")


def notebooks() -> list:
    """The course's notebooks in order: 01..07, then the explorers page."""
    return sorted(notebook_dir().glob("*.ipynb"), key=lambda p: (not p.name[:2].isdigit(), p.name))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        name, _, digest = line.partition(" ")
        if name and digest:
            out[name] = digest
    return out


@dataclass
class CopyReport:
    """What :func:`copy_notebooks` did: the folder, and the notebooks it copied, kept, replaced or backed up."""
    folder: Path
    copied: list = field(default_factory=list)      # new, or unchanged since the last copy (refreshed)
    kept: list = field(default_factory=list)        # changed by the student: left as they are
    replaced: list = field(default_factory=list)    # changed, replaced under --force
    backups: list = field(default_factory=list)     # where the replaced ones were saved

    def lines(self) -> list:
        out = [f"the course's notebooks are in {self.folder}"]
        if self.kept:
            out.append("kept your changed notebook" + ("s" if len(self.kept) > 1 else "") + ": "
                       + ", ".join(self.kept) + " (ddpm-edu notebooks --force replaces them, after a backup)")
        for name, backup in zip(self.replaced, self.backups):
            out.append(f"replaced your changed {name}; your version is saved as {backup.name}")
        return out


def copy_notebooks(folder=DEFAULT_DIR, force: bool = False) -> CopyReport:
    """Copy the course's notebooks into ``folder`` (created if missing).

    A notebook already there is refreshed only if it is exactly what an earlier copy put there; one the
    student has changed (or that was there before) is kept, unless ``force``, which first saves it as
    ``NAME.backup-YYYYmmdd-HHMMSS.ipynb`` beside it."""
    if not isinstance(folder, (str, Path)) or not str(folder).strip():
        raise bad_type("folder", folder, "folder must be the name of a folder to copy the course into")
    force = check_bool("force", force)
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise bad("folder", str(folder), "it is an existing file; give a folder (it is created)")
    folder.mkdir(parents=True, exist_ok=True)
    copied_before = _manifest(folder)
    report = CopyReport(folder=folder.resolve())
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for source in notebooks():
        target = folder / source.name
        if target.exists() and _digest(target) != _digest(source) and copied_before.get(source.name) != _digest(target):
            if not force:
                report.kept.append(source.name)
                continue
            backup = target.with_name(f"{target.stem}.backup-{stamp}{target.suffix}")
            shutil.copy2(target, backup)
            report.replaced.append(source.name)
            report.backups.append(backup)
        shutil.copyfile(source, target)
        copied_before[source.name] = _digest(target)
        if source.name not in report.replaced:
            report.copied.append(source.name)
    (folder / MANIFEST).write_text("".join(f"{name} {digest}\n" for name, digest in sorted(copied_before.items())))
    return report
