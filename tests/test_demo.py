"""`echoshare demo` (the README's first command): fixed crops that leave out burned-in text,
and a real run of the command whose printed link, password and code work."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from echoshare.core import demo_content

DEMO_SECONDS = 300


def test_each_demo_crop_fits_its_image_and_is_smaller_than_it() -> None:
    for name, crop in demo_content.DEMO_CROPS.items():
        dataset = demo_content.demo_datasets()[name]
        assert crop.fits(dataset.Columns, dataset.Rows), name
        # A crop as big as the image would keep the burned-in text along its edges.
        assert crop.width < dataset.Columns and crop.height < dataset.Rows, name


def test_the_top_rows_with_text_of_rgb_color_are_outside_its_crop() -> None:
    """rgb_color has "BAPTIST MED CTR" in its top rows: the crop starts below them."""
    text_rows = np.asarray(demo_content.demo_datasets()["rgb_color"].pixel_array)[0:40]
    assert text_rows.max() > 200  # the burned-in text is there in the original
    assert demo_content.DEMO_CROPS["rgb_color"].y0 > 40


def test_demo_images_belong_to_the_booked_appointment() -> None:
    datasets = demo_content.demo_datasets(accession_number="ES1", study_instance_uid="2.25.7")
    for ds in datasets.values():
        assert (ds.AccessionNumber, ds.StudyInstanceUID) == ("ES1", "2.25.7")
        assert ds.PatientID == demo_content.DEMO_PATIENT_ID
    # The bundled originals are not changed by making the copies.
    assert demo_content.demo_datasets()["rgb_color"].get("AccessionNumber", "") != "ES1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_demo(tmp_path: Path) -> tuple[subprocess.Popen[str], str, Path]:
    log = tmp_path / "demo.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ECHOSHARE_", "DATABASE_"))},
        "ECHOSHARE_DATA_DIR": str(tmp_path / "data"),
        "ECHOSHARE_HTTP_PORT": str(_free_port()),
        "ECHOSHARE_DICOM_PORT": str(_free_port()),
        "ECHOSHARE_DICOM_BIND_ADDRESS": "127.0.0.1",
        "ECHOSHARE_WEB_WORKERS": "1",
    }
    handle = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "echoshare.cli", "demo"],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + DEMO_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        output = log.read_text(errors="replace")
        if "Stop with Ctrl-C." in output:
            return process, output, log
        time.sleep(1)
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail(f"the demo did not finish starting:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.mark.slow
def test_the_demo_prints_a_link_that_opens_with_its_password(tmp_path: Path) -> None:
    process, output, log = _run_demo(tmp_path)
    try:
        link = re.search(r"(http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{22})", output)
        password = re.search(r"password \(from the booking e-mail\): (\S+)", output)
        code = re.search(r"Verwijdercode: ([0-9A-Z]{4})", output)
        assert link and password and code, output
        assert "C-STOREs acknowledged" in output and "Staff login" in output
        assert "BAPTIST" not in output

        session = requests.Session()
        page = session.get(link.group(1), timeout=30)
        assert page.status_code == 200
        token = session.cookies["csrftoken"]
        gallery = session.post(
            link.group(1),
            data={"password": password.group(1), "csrfmiddlewaretoken": token},
            headers={"Referer": link.group(1)},
            timeout=30,
        )
        assert gallery.status_code == 200, gallery.text[:500]
        assert gallery.text.count("<video") == 1
        assert "echo-01.jpg" in gallery.text and "echo-02.jpg" in gallery.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text(errors="replace")[-3000:]
