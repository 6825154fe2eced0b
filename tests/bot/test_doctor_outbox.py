"""``homecrew doctor`` reports the ledger's local outbox: waiting rows, and quarantined ones."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bot.doctor import check_ledger_outbox
from inference.ledger import outbox_path
from inference.outbox import Outbox
from inference.records import LedgerRecord
from tests.support.stack import make_settings


async def test_quarantined_records_are_a_problem_to_look_at(tmp_path: Path) -> None:
    settings = make_settings(nodes={}, models={}, routes={}, data_dir=tmp_path)
    finding = await check_ledger_outbox(settings)
    assert (finding.ok, finding.detail) == (True, "empty (not created yet)")

    path = outbox_path(settings)
    outbox = await Outbox.open(path)
    await outbox.append([LedgerRecord(ts=time.time(), route="r", node="n", model="m",
                                      upstream_model="u")])
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO outbox (record_id, payload, added_at) VALUES ('x', '{', 0)")
    assert len(await outbox.take(10)) == 1  # the bad row is quarantined on the way
    await outbox.close()

    finding = await check_ledger_outbox(settings)
    assert not finding.ok
    assert finding.detail.startswith("1 record(s) waiting for the database; 1 quarantined")
    assert "JSONDecodeError" in finding.detail
    assert str(path) in finding.fix
