"""ModelService: which setting changes rebuild the models, and the status it reports."""

from dataclasses import replace
from pathlib import Path

import pytest

from aqe.config import Settings
from aqe.llm.service import MODEL_SETTINGS, ModelService


@pytest.mark.parametrize("key", ["local_server_url", "privacy_mode", "model_path", "batch_size"])
def test_model_settings_changes_rebuild_the_service(key, tmp_path: Path):
    value = {"local_server_url": "http://127.0.0.1:9", "privacy_mode": "balanced", "model_path": "/m.gguf"}
    changed = replace(Settings(), **{key: value.get(key, 2)})
    service = ModelService(Settings(warm_pool_size=0), tmp_path)
    assert key in MODEL_SETTINGS
    assert service.needs_restart(replace(changed, warm_pool_size=0), tmp_path)


def test_review_settings_and_the_same_root_do_not_rebuild_it(tmp_path: Path):
    service = ModelService(Settings(), tmp_path)
    assert not service.needs_restart(replace(Settings(), max_complexity=3), tmp_path)
    assert service.needs_restart(Settings(), tmp_path / "other")  # the audit log moves with the root
