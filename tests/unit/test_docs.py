"""The README and docs/ hold together: every relative link resolves, and the README stays short.

Links are checked as GitHub renders them: a path relative to the page, and an
anchor that must be the slug of one of the target page's headings.
"""

import re
from pathlib import Path

import pytest

ROOT = next(path for path in Path(__file__).resolve().parents if (path / "pyproject.toml").is_file())
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors by its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")  # GitHub numbers repeated headings
    return found


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no file {resolved.relative_to(ROOT)}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_is_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    index = (ROOT / "docs" / "README.md").read_text()
    unlisted = [page.name for page in PAGES[1:] if page.name != "README.md" and f"({page.name}" not in index]
    assert not unlisted, f"docs/README.md does not link {unlisted}"
    assert "(docs/README.md)" in readme


def test_slug_matches_github():
    assert slug("Use it from pipecat / LiveKit / the Deepgram SDK") == "use-it-from-pipecat--livekit--the-deepgram-sdk"
    assert slug("Finals webhook (`--finals-webhook URL`)") == "finals-webhook---finals-webhook-url"
    assert slug("Every final of every call: the `ss:finals` stream") == "every-final-of-every-call-the-ssfinals-stream"


CONFIGURATION = ROOT / "docs" / "configuration.md"
# docs/configuration.md's sections of flags, and the services whose flags each names.
SECTIONS = {"All services": ("gateway", "vad_worker", "asr_worker", "denoise_worker"), "Gateway": ("gateway",),
            "VAD worker": ("vad_worker",), "ASR worker": ("asr_worker",), "Denoise worker": ("denoise_worker",),
            "Every worker (VAD, ASR, denoise)": ("vad_worker", "asr_worker", "denoise_worker")}


def test_configuration_reads_in_lines_of_at_most_100_characters():
    """Issue 45: its table's rows were single lines of several hundred characters."""
    long = [number for number, line in enumerate(CONFIGURATION.read_text().splitlines(), 1) if len(line) > 100]
    assert not long, f"docs/configuration.md lines over 100 characters: {long}"


def test_every_flag_configuration_names_is_one_of_its_services():
    import importlib

    flags = {module: {flag for action in importlib.import_module(f"{module}.__main__").build_parser()._actions
                      for flag in action.option_strings}
             for module in {module for modules in SECTIONS.values() for module in modules}}
    sections = re.split(r"^### (.+)$", CONFIGURATION.read_text().split("\n## Flags\n")[1].split("\n## ")[0],
                        flags=re.M)
    found = dict(zip(sections[1::2], sections[2::2]))
    assert set(found) == set(SECTIONS), sorted(found)
    unknown = [(title, flag, module) for title, text in found.items()
               for flag in re.findall(r"`(--[a-z0-9-]+)`", text) for module in SECTIONS[title]
               if flag not in flags[module]]
    assert not unknown, unknown


BENCHMARKS_CITE = re.compile(r'\(BENCHMARKS\.md[^)]*\)|BENCHMARKS\.md "[^"]+"')


def cited_sections(text: str) -> list[str]:
    """The BENCHMARKS.md sections that comments in ``text`` (a YAML file) name: quoted titles inside
    ``(BENCHMARKS.md, "Title"; ... "Other")``, or right after ``BENCHMARKS.md``; a comment may wrap."""
    comments = " ".join(line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line)
    return [title for cite in BENCHMARKS_CITE.findall(comments) for title in re.findall(r'"([^"]+)"', cite)]


def test_cited_sections_are_read_across_wrapped_comments():
    text = '  # 2 cores (BENCHMARKS.md, "Capacity model and the\n  # spine"; 203 in "VAD throughput")\n' \
           '# memory (BENCHMARKS.md "Abuse") and the rest\nkey: "not a comment"\n'
    assert cited_sections(text) == ["Capacity model and the spine", "VAD throughput", "Abuse"]


def test_the_deploy_files_cite_benchmark_sections_that_exist():
    titles = {line[3:].strip() for line in (ROOT / "BENCHMARKS.md").read_text().splitlines()
              if line.startswith("## ")}
    cited = {f"{path.relative_to(ROOT)}: {title!r}" for path in sorted((ROOT / "deploy").rglob("*.y*ml"))
             for title in cited_sections(path.read_text()) if title not in titles}
    assert cited == set(), "name a section of BENCHMARKS.md as its heading reads"


DOCSTRING_MAX_LINES = 30
CODE = ("gateway", "asr_worker", "vad_worker", "denoise_worker", "common", "streamscribe_client", "bench", "tests")


def test_module_docstrings_say_what_and_why_in_a_few_lines():
    """A module's docstring says what it is and why in a few lines; figures and their history live
    in BENCHMARKS.md (git keeps the journal). deploy/'s scripts are apart: a script's docstring is
    its manual."""
    import ast

    long = []
    for package in CODE:
        for path in sorted((ROOT / package).rglob("*.py")):
            doc = ast.get_docstring(ast.parse(path.read_text()), clean=False)
            if doc and len(doc.splitlines()) > DOCSTRING_MAX_LINES:
                long.append(f"{path.relative_to(ROOT)} ({len(doc.splitlines())} lines)")
    assert long == []
