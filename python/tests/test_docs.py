"""docs/python.md, run as it stands: `# file:` blocks are written, Python blocks run in order."""

from __future__ import annotations

import os
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "python.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def test_docs_python_md_runs(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    assert DOC.is_file(), "docs/python.md is part of the repository"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATA_WORKSPACE", raising=False)
    namespace: dict[str, object] = {"__name__": "docs_python_md"}
    blocks = FENCE.findall(DOC.read_text())
    ran = 0
    try:
        for language, body in blocks:
            first, _, rest = body.partition("\n")
            if first.startswith("# file: "):
                path = tmp_path / first.removeprefix("# file: ").strip()
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(rest)
            elif language == "python":
                exec(compile(body, f"{DOC}:block{ran}", "exec"), namespace)  # noqa: S102 - the doc's own code
                ran += 1
    finally:
        for name in ("service", "aci"):
            service = namespace.get(name)
            if service is not None and getattr(service, "state", "deleted") != "deleted":
                service.delete()  # type: ignore[attr-defined]
    assert ran >= 8, f"expected the page's Python blocks to run, ran {ran}"
    assert "Strata-Minimal" in capsys.readouterr().out
    assert os.path.isdir(tmp_path / ".strata")
