"""The public API: ``from pytest_hfrouter import ...``, as the README's API section lists it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_hfrouter

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pytest_hfrouter"


def readme_api() -> list[str]:
    """The names in the first column of the README's ``## API`` table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## API\n(.*?)^## ", text, re.M | re.S)
    assert match, "README.md has no '## API' section"
    return re.findall(r"^\| `([A-Za-z_]\w*)` \|", match.group(1), re.M)


def test_all_matches_the_readme_api_section() -> None:
    listed = readme_api()
    assert len(listed) == len(set(listed)), f"a name is listed twice in README's API section: {listed}"
    assert sorted(pytest_hfrouter.__all__) == sorted(listed)


def test_every_public_name_resolves_from_the_package() -> None:
    for name in pytest_hfrouter.__all__:
        value = getattr(pytest_hfrouter, name)
        assert isinstance(value, type) or callable(value), name
        assert value.__name__ == name
        assert value.__module__.startswith("pytest_hfrouter."), (name, value.__module__)
    namespace: dict[str, object] = {}
    exec("from pytest_hfrouter import *", namespace)
    assert sorted(set(namespace) - {"__builtins__"}) == sorted(pytest_hfrouter.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Engine'"):
        pytest_hfrouter.Engine  # noqa: B018
    with pytest.raises(ImportError):
        exec("from pytest_hfrouter import Exchange")


def test_the_errors_keep_their_hierarchy() -> None:
    for name in ("CassetteError", "ScenarioError", "UnansweredRequest"):
        assert issubclass(getattr(pytest_hfrouter, name), pytest_hfrouter.HFRouterError)
    assert issubclass(pytest_hfrouter.HFRouterWarning, pytest.PytestWarning)


def test_no_other_module_exports_a_public_name() -> None:
    """One import path per name: no module of the package lists a public name in its ``__all__``."""
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                exported = set(ast.literal_eval(node.value))
                assert not exported & set(pytest_hfrouter.__all__), f"{path.name} re-exports {exported}"


def test_loading_the_plugin_imports_none_of_the_public_modules() -> None:
    """The package is imported whenever the plugin loads: the names must cost nothing until used."""
    code = (
        "import sys, pytest_hfrouter.plugin, pytest_hfrouter\n"
        "lazy = ('pytest_hfrouter.handle', 'pytest_hfrouter.traffic', 'pytest_hfrouter.verdicts')\n"
        "print(sorted(m for m in lazy if m in sys.modules))\n"
        "pytest_hfrouter.HFRouter\n"
        "print(sorted(m for m in lazy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = out.splitlines()
    assert before == "[]"
    assert "pytest_hfrouter.handle" in after  # the check above can see an import


#: A subpackage's ``__init__`` may present its modules' functions (``faces.install``).
FACADES = {PACKAGE / "faces" / "__init__.py"}


def test_no_module_re_exports_another_module_s_names() -> None:
    """One import path per name inside the package too: an ``__all__`` lists what its module defines."""
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "__init__.py" or path in FACADES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("pytest_hfrouter"))
            for alias in node.names
        }
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                re_exported = set(ast.literal_eval(node.value)) & imported
                assert not re_exported, f"{path.relative_to(PACKAGE)} re-exports {sorted(re_exported)}"


def test_every_public_member_of_the_hfrouter_fixture_is_in_the_readme_fixtures_table() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Fixtures\n(.*?)^## ", text, re.M | re.S)
    assert match, "README.md has no '## Fixtures' section"
    first_column = re.findall(r"^\| (.*?) \|", match.group(1), re.M)
    listed = {name for cell in first_column for name in re.findall(r"`([A-Za-z_]\w*)", cell)}
    members = {name for name in dir(pytest_hfrouter.HFRouter) if not name.startswith("_")}
    assert sorted(members - listed) == []


def test_assert_tried_with_retries_says_so(hfrouter: pytest_hfrouter.HFRouter) -> None:
    """A library that retries (openai's max_retries, smolagents, litellm) tries a provider more than
    once: the exact comparison fails, and its message now says it is the same chain with retries."""
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    with hfrouter.outage("provider-500", provider="novita", times=1):
        for _ in range(2):  # a retry
            try:
                client.chat_completion([{"role": "user", "content": "hi"}], model="Qwen/Qwen2.5-72B-Instruct")
            except HfHubHTTPError:
                continue
    with pytest.raises(AssertionError) as raised:
        hfrouter.assert_tried("novita")
    assert "it tried ['novita', 'novita'] (the same providers in order once each, ['novita'], with retries" in str(
        raised.value
    )


def test_every_public_name_is_imported_for_type_checkers_from_its_home() -> None:
    """A contributor's audit: a name added to ``__all__`` and ``_HOMES`` but not to the ``TYPE_CHECKING``
    imports passed every test, and a user's mypy saw it as ``Any``. The three must name the same names,
    each from the same module."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.level == 1, ast.dump(statement)
                imported.update({alias.name: str(statement.module) for alias in statement.names})
    homes = pytest_hfrouter._HOMES  # type: ignore[attr-defined]
    assert imported == homes
    assert sorted(homes) == sorted(pytest_hfrouter.__all__)
