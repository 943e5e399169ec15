"""Bad input met up front, as one line: query-file fields of the wrong type or with no words,
help text that Rich markup ate, --device and --lang values, and settings-file values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import COLOURS, invoke, make_colour_folder
from PIL import Image

from csdclip_cli.errors import DatasetError, UsageError
from csdclip_cli.eval.datasets import load_dataset

GOOD = {"text_id": "a", "text": "a red square", "image_ids": ["red0"]}


def query_folder(root: Path, *lines: object) -> Path:
    """A TIGR-format folder: en_mine.jsonl holding GOOD, then `lines` (str: written as they are),
    and an imgs/ gallery of one image per colour."""
    d = root / "mine"
    (d / "imgs").mkdir(parents=True)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (16, 16), rgb).save(d / "imgs" / f"{name}0.png")
    rows = [GOOD, *lines]
    (d / "en_mine.jsonl").write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return d


@pytest.mark.parametrize(
    "text, says",
    [
        (["a tree"], 'text must be a string, got ["a tree"]'),  # AttributeError: 'list' ... 'strip'
        ({"en": "a tree"}, "text must be a string"),
        (5, "text must be a string, got 5"),
        (None, "text must be a string, got null"),
        ("", 'text "" is empty or has no words'),  # "empty query" stopped the run, naming no line
        ("   ", 'text "   " is empty or has no words'),
        ("?! ...", "is empty or has no words"),
        ("? | Time: none | Search intention: complex", 'text "?" is empty or has no words'),
    ],
)
def test_query_text_of_the_wrong_type_or_without_words_is_a_bad_line(tmp_path: Path, text: object, says: str) -> None:
    d = query_folder(tmp_path, {"text_id": "b", "text": text, "image_ids": ["blue0"]})
    with pytest.raises(DatasetError) as e:
        load_dataset(str(d))
    msg = str(e.value)
    assert "en_mine.jsonl:2: bad line (" in msg and says in msg and "text_id 'b'" in msg and "--skip-bad" in msg
    ds = load_dataset(str(d), skip_bad=True)
    assert [q.text_id for q in ds.queries] == ["a"]
    assert any("en_mine.jsonl:2: bad line (" in w and says in w for w in ds.warnings)


@pytest.mark.parametrize(
    "line, says",
    [
        ("[1, 2]", "a query line must be a JSON object"),  # TypeError: list indices must be integers
        ('"a red square"', "a query line must be a JSON object"),
        ({"text_id": None, "text": "a tree"}, "text_id must be a non-empty string or an integer, got null"),
        ({"text_id": ["b"], "text": "a tree"}, "text_id must be a non-empty string or an integer"),  # was "['b']"
        ({"text_id": True, "text": "a tree"}, "text_id must be a non-empty string or an integer, got true"),
        ({"text_id": " ", "text": "a tree"}, "text_id must be a non-empty string or an integer"),
        ({"text": "a tree"}, "it has no 'text_id' field"),
        ({"text_id": "b", "image_ids": ["blue0"]}, "it has no 'text' field; text_id 'b'"),
    ],
)
def test_every_field_of_a_query_line_is_type_checked(tmp_path: Path, line: object, says: str) -> None:
    d = query_folder(tmp_path, line)
    with pytest.raises(DatasetError, match=r"en_mine.jsonl:2: bad line \(") as e:
        load_dataset(str(d))
    assert says in str(e.value)
    ds = load_dataset(str(d), skip_bad=True)
    assert [q.text_id for q in ds.queries] == ["a"] and any(says in w for w in ds.warnings)


def test_eval_skip_bad_leaves_out_lines_with_no_words_or_no_string(runner, tmp_path: Path) -> None:
    d = query_folder(
        tmp_path,
        {"text_id": "b", "text": "", "image_ids": ["blue0"]},
        {"text_id": "c", "text": ["a tree"], "image_ids": []},
    )
    r = invoke(runner, "eval", str(d), "--model", "fake:colour", "--methods", "plain,csd")
    assert r.exit_code == 1 and "en_mine.jsonl:2: bad line (" in r.stderr and "Traceback" not in r.output
    r = invoke(runner, "eval", str(d), "--model", "fake:colour", "--methods", "plain,csd", "--skip-bad")
    assert r.exit_code == 0, r.output
    assert "en_mine.jsonl:2: bad line" in r.stderr and "en_mine.jsonl:3: bad line" in r.stderr


def test_karpathy_caption_of_the_wrong_type_and_captions_without_words(tmp_path: Path) -> None:
    d = tmp_path / "karpathy"
    (d / "images").mkdir(parents=True)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (16, 16), rgb).save(d / "images" / f"{name}.jpg")
    images = [
        {"filename": f"{n}.jpg", "split": "test", "sentences": [{"raw": f"a {n} square"}, {"raw": " . "}]}
        for n in COLOURS
    ]
    images[1]["sentences"].append({"raw": "or"})  # connecting words only: the rewriters refuse it too
    (d / "dataset_flickr8k.json").write_text(json.dumps({"images": images}))
    ds = load_dataset(str(d))  # a caption with no words stopped the run at rewriting
    assert len(ds.queries) == 4 and any("5 captions of flickr8k have no words" in w for w in ds.warnings)
    images[0]["sentences"][0]["raw"] = ["a red square"]  # an AttributeError traceback at rewriting
    (d / "dataset_flickr8k.json").write_text(json.dumps({"images": images}))
    with pytest.raises(
        DatasetError, match=r"dataset_flickr8k.json is not a Karpathy split file .*raw must be a string"
    ):
        load_dataset(str(d))


# ---- help text --------------------------------------------------------------------------------


def _commands(cmd, path: list[str]):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, [*path, name])


def test_no_help_text_has_square_brackets_that_rich_markup_swallows() -> None:
    """`--config ... fusion weights ( table or top level)`: Rich read '[composite]' as a style tag."""
    import typer
    from rich.errors import StyleSyntaxError
    from rich.markup import _parse
    from rich.style import Style

    from csdclip_cli.cli.app import app

    lost = []
    for path, cmd in _commands(typer.main.get_command(app), ["csd"]):
        texts = [cmd.help, cmd.short_help, cmd.epilog] + [getattr(p, "help", None) for p in cmd.params]
        for text in filter(None, texts):
            for _, _, tag in _parse(text):
                if tag is None or tag.name.startswith(("/", "@")):
                    continue
                try:
                    Style.parse(tag.name)
                except StyleSyntaxError:  # no style: Rich drops the tag, and the user's words with it
                    lost.append(f"{' '.join(path)}: {tag.markup} in {text!r}")
    assert not lost, lost


@pytest.mark.parametrize("command", ["search", "eval"])
def test_config_help_shows_its_table_name(runner, command: str) -> None:
    r = invoke(runner, command, "--help")
    assert r.exit_code == 0 and "([composite] table or top level)" in r.stdout
    assert "( table" not in r.stdout


# ---- --device, --lang -------------------------------------------------------------------------


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


@pytest.mark.parametrize("device", ["bogus", "cuda", "cuda:1"])
def test_search_checks_device_as_index_build_does(runner, tmp_path: Path, device: str) -> None:
    if device.startswith("cuda") and not _no_cuda():
        pytest.skip("this machine has CUDA")
    folder = make_colour_folder(tmp_path / "imgs", n=8)
    assert invoke(runner, "index", "build", str(folder), "--model", "fake:colour").exit_code == 0
    build = invoke(runner, "index", "build", str(folder), "--model", "fake:colour", "--device", device)
    says = "is not one of auto, cpu, cuda" if device == "bogus" else "no CUDA device is available"
    assert build.exit_code == 2 and says in build.stderr
    r = invoke(runner, "search", "red", "--no-server", "--device", device)
    assert r.exit_code == 2 and r.stderr.strip() == build.stderr.strip() and not r.stdout
    r = invoke(runner, "search", "red", "--no-server", "--device", "cpu")
    assert r.exit_code == 0


def test_eval_and_demo_check_device_before_any_work(runner, tmp_path: Path) -> None:
    d = query_folder(tmp_path)
    r = invoke(runner, "eval", str(d), "--model", "fake:colour", "--methods", "plain", "--device", "bogus")
    assert r.exit_code == 2 and "--device 'bogus' is not one of" in r.stderr
    assert not any((tmp_path / "indexes").iterdir())  # refused before the gallery was indexed
    r = invoke(runner, "demo", "--device", "bogus", "--data-dir", str(tmp_path / "data"))
    assert r.exit_code == 2 and "--device 'bogus' is not one of" in r.stderr
    assert not (tmp_path / "data" / "demo").exists()  # refused before the demo world was drawn


@pytest.mark.parametrize("lang", ["fr", "EN", ""])
def test_eval_refuses_an_unknown_language_up_front(runner, tmp_path: Path, lang: str) -> None:
    d = query_folder(tmp_path)
    r = invoke(runner, "eval", str(d), "--model", "fake:colour", "--lang", lang)
    assert r.exit_code == 2 and f"--lang {lang!r} must be en or zh" in r.stderr and "pass --lang" not in r.stderr
    with pytest.raises(UsageError, match="must be en or zh"):
        load_dataset(str(d), lang=lang)


# ---- the settings file ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-5", "0.0", "nan", "inf", "100000"])
def test_settings_rewrite_timeout_must_be_positive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """`timeout = 0` became 60 s without a word."""
    from csdclip_cli import config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "csd.toml").write_text(f"[rewrite]\ntimeout = {value}\n")
    with pytest.raises(UsageError, match=r"csd.toml \[rewrite\]: timeout must be a positive number of seconds"):
        config.settings("rewrite")
    (tmp_path / "csd.toml").write_text("[rewrite]\ntimeout = 0.5\n")
    assert config.settings("rewrite") == {"timeout": 0.5}


@pytest.mark.parametrize("table", ["composite", "rewrite"])
def test_settings_table_name_given_a_value_says_it_must_be_a_table(
    runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    folder = make_colour_folder(tmp_path / "imgs", n=8)
    assert invoke(runner, "index", "build", str(folder), "--model", "fake:colour").exit_code == 0
    monkeypatch.chdir(tmp_path)
    (tmp_path / "csd.toml").write_text(f"{table} = 5\n")
    r = invoke(runner, "search", "red", "--no-server")
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert f"csd.toml: {table} must be a table, not 5; write [{table}] on a line of its own" in lines[0]
    assert "unknown" not in lines[0]


@pytest.mark.parametrize("device", ["cudafoo", "cuda:x", "cuda:", "gpu"])
def test_a_malformed_device_is_named_malformed(device: str) -> None:
    """'cudafoo' and 'cuda:x' passed the check (to fail later on a CUDA machine) or were told
    'no CUDA device' here."""
    from csdclip_cli.encoders.base import resolve_device
    from csdclip_cli.errors import UsageError

    with pytest.raises(UsageError, match=r"is not one of auto, cpu, cuda, cuda:N, mps"):
        resolve_device(device)


def test_device_names_are_case_blind_and_mps_is_checked() -> None:
    """'CPU' was refused; 'mps' on a machine without it failed after the model loaded."""
    import torch

    from csdclip_cli.encoders.base import resolve_device
    from csdclip_cli.errors import UsageError

    assert resolve_device("CPU") == "cpu"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        assert resolve_device("mps") == "mps"
    else:
        with pytest.raises(UsageError, match="no Apple MPS device is available here"):
            resolve_device("mps")


def test_rewriter_none_is_plain_search_and_says_so(runner, tmp_path: Path) -> None:
    """`--rewriter none --method deo` searched plain without a word, and `--rewriter none --explain`
    blamed a `--method plain` the user never typed."""
    folder = make_colour_folder(tmp_path / "imgs", n=8)
    assert invoke(runner, "index", "build", str(folder), "--model", "fake:colour").exit_code == 0
    for method in ("deo", "arith", "csd"):
        r = invoke(runner, "search", "red, no blue", "--no-server", "--rewriter", "none", "--method", method)
        assert r.exit_code == 2 and not r.stdout, r.output
        assert (
            f"--rewriter none searches the whole query as one vector; it cannot go with --method {method}" in r.stderr
        )
    r = invoke(runner, "search", "red", "--no-server", "--rewriter", "none", "--explain")
    assert r.exit_code == 2 and "--explain is about composite search's clauses; --rewriter none has none" in r.stderr
    r = invoke(runner, "search", "red", "--no-server", "--plain", "--explain")
    assert r.exit_code == 2 and "--method plain has none" in r.stderr
    for flags in (["--plain"], ["--rewriter", "none"]):  # --show-plan printed nothing, without a word
        r = invoke(runner, "search", "red, no blue", "--no-server", *flags, "--show-plan")
        assert r.exit_code == 2 and "--show-plan is about composite search's clauses" in r.stderr, r.output
    plain = invoke(runner, "search", "red", "--no-server", "--rewriter", "none", "--method", "plain", "--json")
    assert (
        plain.exit_code == 0
        and plain.stdout == invoke(runner, "search", "red", "--no-server", "--plain", "--json").stdout
    )


def test_eval_refuses_a_second_dataset_argument(runner, tmp_path: Path) -> None:
    """`csd eval ds extra` ran on ds and ignored "extra" (the second argument is report's DIR)."""
    d = query_folder(tmp_path)
    r = invoke(runner, "eval", str(d), "extra", "--model", "fake:colour", "--methods", "plain")
    assert r.exit_code == 2 and "csd eval takes one dataset; 'extra' is a second argument" in r.stderr
    assert not any((tmp_path / "indexes").iterdir())  # refused before any work


def test_a_dash_is_standard_input_and_output(runner, tmp_path: Path, monkeypatch) -> None:
    """`csd rewrite -f q.txt -o -` and `csd rewriter data -o -` wrote a file named '-', and
    `--file -` said '--file -: no such file'; a single query's --tigr line that reads back as
    other clauses was printed without a word (a batch warns); the iconv advice for a non-UTF-8
    file wrote its output into the working folder."""
    from conftest import invoke

    monkeypatch.chdir(tmp_path)
    from csdclip_cli.cli.app import app

    r = runner.invoke(app, ["rewrite", "-f", "-", "-o", "-"], input="a red car, no dog\na cat\n")
    plans = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.exit_code == 0 and [p["not"] for p in plans] == [["dog"], []], r.output
    r = invoke(runner, "rewriter", "data", "-n", "3", "-o", "-")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 3 and "to standard output" in r.stderr
    assert not (tmp_path / "-").exists()
    r = invoke(runner, "rewrite", 'a t-shirt with "hello, world" printed on it, no people', "--tigr")
    assert r.exit_code == 0 and "does not survive the TIGR form" in r.stderr, r.output
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "q.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    r = invoke(runner, "rewrite", "-f", "sub/q.txt")
    assert r.exit_code == 2 and "iconv -f ENCODING -t UTF-8 sub/q.txt > sub/q.utf8.txt" in r.stderr, r.output


def test_a_batch_stopped_by_ctrl_c_says_what_it_kept(runner, tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C in `csd rewrite -f q.txt -o plans.jsonl` printed "interrupted" alone: the output is not
    written (it is written whole or not at all), and an LLM's plans made so far are cached."""
    from csdclip_cli.cli.app import app
    from csdclip_cli.rewrite.rules import RuleRewriter

    real = RuleRewriter.rewrite
    calls = {"n": 0}

    def stop_at_second(self, q: str):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, q)

    monkeypatch.setattr(RuleRewriter, "rewrite", stop_at_second)
    (tmp_path / "q.txt").write_text("a dog\na cat\na cow\n")
    out = tmp_path / "plans.jsonl"
    r = runner.invoke(app, ["rewrite", "-f", str(tmp_path / "q.txt"), "-o", str(out)])
    assert r.exit_code == 130 and not out.exists(), r.output
    assert f"interrupted: {out} was not written" in r.stderr, r.output


def test_an_output_that_is_no_plain_file_is_written_into_not_replaced(runner, tmp_path: Path) -> None:
    """Every output option wrote a temporary file and renamed it over the path: `-o /dev/null`
    (as root) made /dev/null a plain file, a named pipe's reader got nothing, a link became a file
    (its target unchanged) and a private file became world-readable."""
    import os
    import stat
    import threading

    from conftest import invoke

    # (a pipe stands for a device too: a test that regressed must not replace the machine's /dev/null)
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    r = invoke(runner, "rewriter", "data", "-n", "2", "-o", str(fifo))
    reader.join(10)
    assert r.exit_code == 0 and len(got[0].splitlines()) == 2 and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    target = tmp_path / "www" / "t.jsonl"
    target.parent.mkdir()
    target.write_text("old\n")
    (tmp_path / "link.jsonl").symlink_to(target)
    assert invoke(runner, "rewriter", "data", "-n", "1", "-o", str(tmp_path / "link.jsonl")).exit_code == 0
    assert (tmp_path / "link.jsonl").is_symlink() and target.read_text().startswith('{"raw"')
    private = tmp_path / "private.jsonl"
    private.write_text("")
    private.chmod(0o600)
    r = invoke(runner, "rewriter", "data", "-n", "1", "-o", str(private))
    assert r.exit_code == 0 and stat.S_IMODE(private.stat().st_mode) == 0o600 and "wrote 1 pair to" in r.stderr


def test_dash_for_a_folder_a_gold_file_from_stdin_a_folder_named_gguf_and_an_adapter_cut_short(
    runner, tmp_path: Path, monkeypatch
) -> None:
    """`csd eval demo --report -` made a folder named '-'; `csd rewriter eval -` said 'plans file -
    not found'; `models list` called a folder named x.gguf 'empty'; an adapter cut short was 'not a
    GGUF file'."""
    from conftest import invoke

    from csdclip_cli.cli.app import app
    from csdclip_cli.errors import ModelFileMissing
    from csdclip_cli.rewrite import llm, shipped

    monkeypatch.chdir(tmp_path)
    r = invoke(runner, "eval", "demo", "--report", "-")
    assert r.exit_code == 2 and "--report - : give a folder" in r.stderr and not (tmp_path / "-").exists()
    gold = json.dumps({"raw": "a dog, no cat", "and": ["a dog"], "not": ["cat"]}) + "\n"
    r = runner.invoke(app, ["rewriter", "eval", "-"], input=gold)
    assert r.exit_code == 0 and "rules" in r.stdout, r.output
    (tmp_path / "m" / "x.gguf").mkdir(parents=True)
    r = invoke(runner, "models", "list", "--models-dir", str(tmp_path / "m"))
    assert "x.gguf  is a folder, not a weights file" in r.stdout, r.stdout
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(shipped.ADAPTER.read_bytes()[:100_000])
    with pytest.raises(ModelFileMissing, match="cut.gguf is cut short or damaged"):
        llm.resolve_model(None, adapter=cut)
