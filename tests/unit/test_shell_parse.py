import pytest

from sis.kernel.shell.sh import ParseError, parse, tokenize


def cmds(line, status=0):
    return [parse(t) for t in tokenize(line, status, 42)]


def test_words_quotes_and_status():
    (c,) = cmds("echo 'a b' \"c $?\" d\\ e $$", status=3)
    assert c.argv == ["echo", "a b", "c 3", "d e", "42"]


def test_redirections_and_background():
    (c,) = cmds("echo hi >> /log.txt")
    assert c.argv == ["echo", "hi"] and c.redirect == (">>", "/log.txt")
    (c,) = cmds("echo hi>/x")
    assert c.redirect == (">", "/x")
    (c,) = cmds("sleep 5 &")
    assert c.background and c.argv == ["sleep", "5"]


def test_semicolons_and_comments():
    assert [c.argv for c in cmds("echo a; echo b ;echo c # note")] == [
        ["echo", "a"],
        ["echo", "b"],
        ["echo", "c"],
    ]


@pytest.mark.parametrize("line", ["echo 'open", "echo >", "sleep 1 & echo", "> x"])
def test_syntax_errors(line):
    with pytest.raises(ParseError):
        cmds(line)
