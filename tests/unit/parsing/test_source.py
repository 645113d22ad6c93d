from aqe.findings import Position
from aqe.parsing.source import SourceText


def test_emoji_counts_two_utf16_units_and_four_bytes():
    source = SourceText('x = "😀" + y\n')
    y_byte = source.data.index(b"y")
    assert source.position_at_byte(y_byte) == Position(0, 11)
    assert source.byte_at_position(Position(0, 11)) == y_byte


def test_crlf_and_lone_cr_both_end_lines():
    source = SourceText("a\r\nb\rc\nd")
    assert source.line_count == 4
    assert [source.line_text(i) for i in range(4)] == ["a", "b", "c", "d"]
    assert source.position_at_byte(source.data.index(b"d")) == Position(3, 0)


def test_positions_past_the_end_of_a_line_clamp_to_its_end():
    source = SourceText("ab\ncd\n")
    assert source.byte_at_position(Position(0, 99)) == 2
    assert source.byte_at_position(Position(99, 0)) == len(source.data)


def test_non_bmp_and_accented_text_round_trips_every_position():
    text = "déjà 😀 vu\r\n" + "\U0001d518\U0001d52b\U0001d526" + " = 1\n"  # non-BMP letters
    source = SourceText(text)
    for offset in range(len(source.data) + 1):
        try:
            source.data[:offset].decode("utf-8")
        except UnicodeDecodeError:
            continue  # not a character boundary
        if source.data[offset - 1 : offset + 1] == b"\r\n":
            continue  # the middle of a CRLF pair has no LSP position
        assert source.byte_at_position(source.position_at_byte(offset)) == offset
