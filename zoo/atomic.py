"""Writing a file or folder so that readers see the old version or the new one, never half of one.

    with atomic.replacing(run / "model.keras") as temporary:
        model.save(temporary)

The new version is written to `temporary`, a name beside the target
(`model.tmp-XXXX.keras`: same folder, so the rename never copies; same
suffix, for writers that check it), and renamed over the target only when
the block ends without an exception. On an exception the temporary is
deleted and the previous version stays as it was.
"""

import contextlib
import json
import os
import pathlib
import shutil
import tempfile


@contextlib.contextmanager
def replacing(path):
    """Yields a temporary path for the new version of file or folder `path`; see the module docstring."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # All suffixes, for writers that insist on ".weights.h5".
    stem, dot, suffixes = path.name.partition(".")
    # mkdtemp reserves a unique name; writers expect to create the file or folder themselves.
    temporary = pathlib.Path(tempfile.mkdtemp(prefix=f"{stem}.tmp-", suffix=dot + suffixes, dir=path.parent))
    temporary.rmdir()
    try:
        yield temporary
        if not temporary.exists():
            raise FileNotFoundError(f"{temporary} was not written: {path} is left as it was.")
        if temporary.is_dir() and path.is_dir():
            # rename() cannot replace a non-empty folder: move the old one aside, then drop it.
            old = pathlib.Path(tempfile.mkdtemp(prefix=f"{stem}.old-", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(temporary, path)
            shutil.rmtree(old)
        else:
            os.replace(temporary, path)
    except BaseException:
        if temporary.is_dir():
            shutil.rmtree(temporary)
        else:
            temporary.unlink(missing_ok=True)
        raise


def write_json(path, value):
    """Writes `value` as JSON to `path` through `replacing`, so a crash never leaves half a file."""
    with replacing(path) as temporary:
        temporary.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
