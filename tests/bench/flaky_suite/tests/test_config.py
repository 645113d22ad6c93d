from app.config import SETTINGS, log_level


def test_default_log_level_is_info():
    assert log_level() == "INFO"


def test_debug_mode_logs_everything():
    SETTINGS["debug"] = True
    assert log_level() == "DEBUG"
