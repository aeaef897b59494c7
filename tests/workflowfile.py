"""The GitHub workflows as data for the tests: every job's steps, the commands a `run:` step
runs (with the job's environment and one matrix cell filled in), and `if:` conditions of the
few shapes the workflows use."""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_VAR = re.compile(r'"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?"|\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?')
_REDIRECT = {">", ">>", "<", "2>", "2>>"}
_SEPARATORS = {"&&", "||", ";", "|", "&"}


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def matrix_cells(job: dict[str, Any]) -> list[dict[str, str]]:
    """Every cell of a job's matrix (one empty cell without a matrix), includes merged in as
    GitHub merges them: an include that matches a cell's original values extends it."""
    matrix = dict(job.get("strategy", {}).get("matrix", {}))
    includes = matrix.pop("include", [])
    keys = [k for k in matrix if k != "exclude"]
    cells = [dict(zip(keys, values, strict=True)) for values in
             itertools.product(*(matrix[k] for k in keys))] if keys else [{}]  # fmt: skip
    for inc in includes:
        matched = False
        for cell in cells:
            if all(cell.get(k) == v for k, v in inc.items() if k in keys):
                cell.update({k: v for k, v in inc.items() if k not in keys})
                matched = True
        if not matched:
            cells.append(dict(inc))
    return [{k: str(v) for k, v in c.items()} for c in cells]


@dataclass
class Context:
    """What `${{ }}` expressions read: one matrix cell, and stand-ins for the rest."""

    matrix: dict[str, str] = field(default_factory=dict)

    def value(self, expr: str) -> str:
        if expr.startswith("matrix."):
            return self.matrix.get(expr.removeprefix("matrix."), "")
        if expr == "github.run_number":
            return "1"
        if expr.startswith(("github.", "secrets.")):
            return expr.replace(".", "-")
        raise ValueError(f"expression not understood: {expr}")

    def substitute(self, text: str) -> str:
        return _EXPR.sub(lambda m: self.value(m.group(1)), text)

    def condition(self, cond: str | bool | None) -> bool:
        """An `if:`: `!cancelled()`, `always()`, `matrix.X` or `matrix.X == 'v'`."""
        if cond is None or isinstance(cond, bool):
            return cond is not False
        m = _EXPR.fullmatch(cond.strip())
        expr = m.group(1) if m else cond.strip()
        if expr in ("!cancelled()", "always()", "success()"):
            return True
        eq = re.fullmatch(r"(matrix\.\w+)\s*==\s*'([^']*)'", expr)
        if eq:
            return self.value(eq.group(1)) == eq.group(2)
        if re.fullmatch(r"matrix\.\w+", expr):
            return bool(self.value(expr))
        raise ValueError(f"condition not understood: {cond}")


def environment(workflow: dict, job: dict, step: dict, ctx: Context) -> dict[str, str]:
    env: dict[str, str] = {}
    for scope in (workflow, job, step):
        env.update({k: ctx.substitute(str(v)) for k, v in (scope.get("env") or {}).items()})
    return env


def _expand(line: str, env: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in env:
            return m.group(0)
        return shlex.quote(env[name]) if m.group(1) else env[name]

    return _VAR.sub(one, line)


def commands(script: str, env: dict[str, str]) -> list[list[str]]:
    """The simple commands of a `run:` script, as words: variables of `env` expanded, the
    assignments before a command and the redirections removed."""
    text = script.replace("\\\n", " ")
    found: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        lexer = shlex.shlex(_expand(line, env), posix=True, punctuation_chars="|&;<>")
        lexer.whitespace_split = True
        words: list[str] = []
        skip_next = False
        for token in [*lexer, ";"]:
            if skip_next:
                skip_next = False
            elif token in _REDIRECT or re.fullmatch(r"\d?>>?", token):
                skip_next = True
            elif token in _SEPARATORS:
                while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
                    words.pop(0)
                if words:
                    found.append(words)
                words = []
            else:
                words.append(token)
    return found


def run_steps(workflow: dict) -> list[tuple[str, dict, dict]]:
    """(job name, job, step) for every `run:` step of a workflow."""
    return [
        (name, job, step)
        for name, job in workflow["jobs"].items()
        for step in job.get("steps", [])
        if "run" in step
    ]


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_./-]+)\s*:(?!=)", text, re.MULTILINE))
