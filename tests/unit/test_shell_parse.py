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


@pytest.mark.parametrize("line", ["echo 'open", "echo >", "echo a & &", "> x"])
def test_syntax_errors(line):
    with pytest.raises(ParseError):
        cmds(line)


def test_split_commands_on_semicolons_and_ampersands():
    from sis.kernel.shell.sh import split_commands

    assert split_commands("sleep 5 & echo $?") == ["sleep 5 &", " echo $?"]
    assert split_commands("a; b & c") == ["a", " b &", " c"]
    assert split_commands("echo 'a;b&c'") == ["echo 'a;b&c'"]
    with pytest.raises(ParseError):
        split_commands("a && b")
