"""The protocol form in Chromium: half-step values (a composite coefficient of 0.35, a divergence
threshold of 2.5) pass the browser's own validation and are saved (the step attributes were printed
escaped, so the browser fell back to whole numbers and refused them)."""

import re

import pytest

from app.db import session_scope
from app.studies.models import Study
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def test_half_step_values_are_saved_from_the_protocol_page(page, live_app):
    log_in(page, live_app.base)
    page.fill("#f-title", "Half steps")
    page.fill("#f-question", "Do half steps save?")
    page.click("text=Create the study")
    page.wait_for_url("**/design?*")
    study_id = int(re.search(r"/studies/(\d+)/", page.url).group(1))  # type: ignore[union-attr]

    page.goto(f"{live_app.base}/studies/{study_id}/protocol")
    page.fill("#f-composite_weight", "0.35")
    page.fill("#f-composite_participation", "0.65")
    page.fill("#f-divergence_threshold", "2.5")
    assert page.evaluate("document.querySelector('#f-composite_weight').checkValidity()")
    page.click("text=Save the protocol")
    page.wait_for_url("**/protocol?done=saved*")

    with session_scope(live_app.engine) as session:
        study = session.get(Study, study_id)
        assert study is not None
        assert study.narrowing["composite"]["weight"] == pytest.approx(0.35)
        assert study.divergence_threshold == pytest.approx(2.5)
