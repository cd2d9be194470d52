"""The collection operations the stores use, as contract tests every database must pass.

Each test takes the `database` fixture of the module that imports these tests: the in-memory database
(tests/unit/shared/test_stream_contract.py) and FerretDB (tests/integration/shared/test_streams.py), so the queries
the in-memory database answers for the use-case tests are answered as the real server answers them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

from shared.mongo import Collection, Database, drop_index_if_present
from shared.projections import project, projected_seq

__all__ = [
    "test_a_dotted_path_reaches_into_arrays_of_sub_documents",
    "test_a_key_holding_a_dot_is_refused_at_any_depth",
    "test_a_projection_write_never_goes_back_to_an_older_seq",
    "test_a_unique_index_refuses_a_second_document_with_its_key",
    "test_an_id_is_unique",
    "test_an_index_dropped_is_gone_and_dropping_it_again_is_nothing",
    "test_comparisons_order_datetimes_numbers_and_strings_only_within_their_type",
    "test_documents_are_copied_in_and_out_as_bson",
    "test_equality_with_none_matches_a_missing_field_and_a_null",
    "test_in_nin_and_all_match_sets_of_values",
    "test_or_and_combine_clauses_as_the_timer_scans_do",
    "test_projections_include_or_exclude_top_level_fields",
    "test_sort_orders_by_several_keys_each_in_its_own_direction_and_limit_cuts",
    "test_update_set_replace_upsert_and_delete_change_one_document",
]

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def ids(collection: Collection, query: dict[str, Any], **kwargs: Any) -> list[Any]:
    return sorted([doc["_id"] async for doc in collection.find(query, **kwargs)])


async def test_an_id_is_unique(database: Database) -> None:
    c = database["things"]
    await c.insert_one({"_id": "a", "n": 1})
    with pytest.raises(DuplicateKeyError):
        await c.insert_one({"_id": "a", "n": 2})
    assert await c.find_one({"_id": "a"}) == {"_id": "a", "n": 1}
    generated: dict[str, Any] = {"n": 3}
    await c.insert_one(generated)
    assert "_id" in generated  # set on the caller's document, as the driver does
    assert await c.find_one({"_id": generated["_id"]}) == generated


async def test_a_unique_index_refuses_a_second_document_with_its_key(database: Database) -> None:
    c = database["entries"]
    await c.create_index([("stream_id", 1), ("seq", 1)], unique=True, name="stream_seq")
    await c.create_index([("other", 1)], name="not_unique")
    await c.insert_one({"_id": "s#1", "stream_id": "s", "seq": 1, "other": 1})
    await c.insert_one({"_id": "t#1", "stream_id": "t", "seq": 1, "other": 1})
    with pytest.raises(DuplicateKeyError):
        await c.insert_one({"_id": "s#1-again", "stream_id": "s", "seq": 1})
    await c.insert_one({"_id": "s#2", "stream_id": "s", "seq": 2})
    assert await ids(c, {}) == ["s#1", "s#2", "t#1"]


async def test_an_index_dropped_is_gone_and_dropping_it_again_is_nothing(database: Database) -> None:
    c = database["indexed"]
    await c.create_index([("key", 1)], unique=True, name="old")
    await c.insert_one({"_id": "a", "key": 1})
    await drop_index_if_present(c, "old")
    await c.insert_one({"_id": "b", "key": 1})  # no longer unique
    await drop_index_if_present(c, "old")  # a replica that started at the same time
    with pytest.raises(OperationFailure) as refused:
        await c.drop_index("old")
    assert refused.value.code == 27  # IndexNotFound
    assert await ids(c, {"key": 1}) == ["a", "b"]


async def test_documents_are_copied_in_and_out_as_bson(database: Database) -> None:
    c = database["copies"]
    at = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    doc: dict[str, Any] = {"_id": "a", "nested": {"list": [1, 2]}, "pair": ("x", "y"), "at": at}
    await c.insert_one(doc)
    doc["nested"]["list"].append(3)
    found = await c.find_one({"_id": "a"})
    assert found is not None
    assert found["nested"] == {"list": [1, 2]}
    assert found["pair"] == ["x", "y"]
    assert found["at"] == at.replace(microsecond=123000) and found["at"].tzinfo is not None
    found["nested"]["list"].append(4)
    again = await c.find_one({"_id": "a"})
    assert again is not None and again["nested"] == {"list": [1, 2]}


async def test_equality_with_none_matches_a_missing_field_and_a_null(database: Database) -> None:
    c = database["orders"]
    await c.insert_one({"_id": "missing"})
    await c.insert_one({"_id": "null", "payment_id": None})
    await c.insert_one({"_id": "set", "payment_id": "pay_1"})
    assert await ids(c, {"payment_id": None}) == ["missing", "null"]
    assert await ids(c, {"payment_id": "pay_1"}) == ["set"]


async def test_a_dotted_path_reaches_into_arrays_of_sub_documents(database: Database) -> None:
    c = database["stream_entries"]
    await c.insert_one({"_id": "o#1", "stream_id": "o", "events": [{"type": "order.placed"}]})
    await c.insert_one({"_id": "o#2", "stream_id": "o", "events": [{"type": "x.y"}, {"type": "order.paid"}]})
    await c.insert_one({"_id": "o#3", "stream_id": "o", "events": []})
    await c.insert_one({"_id": "p#1", "stream_id": "p", "meta": {"type": "order.paid"}})
    assert await ids(c, {"stream_id": "o", "events.type": "order.paid"}) == ["o#2"]
    assert await ids(c, {"meta.type": "order.paid"}) == ["p#1"]
    assert await ids(c, {"events.type": {"$in": ["order.placed", "order.paid"]}}) == ["o#1", "o#2"]


async def test_in_nin_and_all_match_sets_of_values(database: Database) -> None:
    c = database["items"]
    await c.insert_one({"_id": "a", "status": "on_sale", "terms": ["red", "bike"]})
    await c.insert_one({"_id": "b", "status": "reserved", "terms": ["red", "car"]})
    await c.insert_one({"_id": "c", "terms": ["blue", "bike"]})
    assert await ids(c, {"status": {"$in": ["on_sale", "reserved"]}}) == ["a", "b"]
    assert await ids(c, {"status": {"$nin": ["reserved"]}}) == ["a", "c"]
    assert await ids(c, {"_id": {"$gt": "a", "$nin": ["c"]}}) == ["b"]
    assert await ids(c, {"terms": {"$all": ["red", "bike"]}}) == ["a"]
    assert await ids(c, {"terms": "bike"}) == ["a", "c"]


async def test_comparisons_order_datetimes_numbers_and_strings_only_within_their_type(database: Database) -> None:
    c = database["mixed"]
    await c.insert_one({"_id": "early", "at": T0, "n": 1, "s": "b"})
    await c.insert_one({"_id": "late", "at": T0 + timedelta(seconds=10), "n": 2.5, "s": "d"})
    await c.insert_one({"_id": "text", "at": "2026", "n": "3", "s": 5})
    await c.insert_one({"_id": "none"})
    assert await ids(c, {"at": {"$lte": T0}}) == ["early"]
    assert await ids(c, {"at": {"$lt": T0 + timedelta(seconds=10)}}) == ["early"]
    assert await ids(c, {"at": {"$gte": T0}}) == ["early", "late"]
    assert await ids(c, {"n": {"$gt": 1}}) == ["late"]
    assert await ids(c, {"n": {"$gte": 1, "$lt": 3}}) == ["early", "late"]
    assert await ids(c, {"s": {"$gt": "a"}}) == ["early", "late"]
    assert await ids(c, {"s": {"$lte": "c"}}) == ["early"]


async def test_or_and_combine_clauses_as_the_timer_scans_do(database: Database) -> None:
    c = database["orders"]
    cutoff, backstop = T0, T0 - timedelta(hours=1)
    await c.insert_one({"_id": "unpaid-due", "status": "pending_payment", "payment_id": None, "expires_at": cutoff})
    await c.insert_one({"_id": "paying-due", "status": "pending_payment", "payment_id": "p", "expires_at": backstop})
    await c.insert_one({"_id": "paying-not", "status": "pending_payment", "payment_id": "p", "expires_at": cutoff})
    await c.insert_one({"_id": "paid", "status": "paid", "payment_id": None, "expires_at": backstop})
    query = {
        "status": "pending_payment",
        "$or": [{"payment_id": None, "expires_at": {"$lte": cutoff}}, {"expires_at": {"$lte": backstop}}],
    }
    assert await ids(c, query) == ["paying-due", "unpaid-due"]
    both = {"$and": [{"status": "pending_payment"}, {"$or": [{"_id": "paid"}, {"payment_id": "p"}]}]}
    assert await ids(c, both) == ["paying-due", "paying-not"]


async def test_sort_orders_by_several_keys_each_in_its_own_direction_and_limit_cuts(database: Database) -> None:
    c = database["items"]
    for doc_id, price in [("a", 300), ("b", 100), ("c", 300), ("d", 200)]:
        await c.insert_one({"_id": doc_id, "price_fen": price, "at": T0 + timedelta(seconds=price)})
    await c.insert_one({"_id": "e"})
    cursor = c.find({}).sort([("price_fen", -1), ("_id", 1)])
    assert [d["_id"] async for d in cursor] == ["a", "c", "d", "b", "e"]  # a missing field sorts as null, lowest
    cursor = c.find({"price_fen": {"$gte": 0}}).sort([("price_fen", 1), ("_id", -1)]).limit(3)
    assert [d["_id"] async for d in cursor] == ["b", "d", "c"]
    cursor = c.find({"at": {"$gte": T0}}).sort([("at", -1), ("_id", -1)]).limit(2)
    assert [d["_id"] async for d in cursor] == ["c", "a"]


async def test_projections_include_or_exclude_top_level_fields(database: Database) -> None:
    c = database["items"]
    await c.insert_one({"_id": "a", "seq": 3, "terms": ["x"], "title": "t"})
    assert await c.find_one({"_id": "a"}, projection={"seq": 1}) == {"_id": "a", "seq": 3}
    assert await c.find_one({"_id": "a"}, projection={"_id": 1}) == {"_id": "a"}
    assert [d async for d in c.find({}, projection={"terms": 0})] == [{"_id": "a", "seq": 3, "title": "t"}]
    assert await c.find_one({"_id": "a"}, projection={"missing_field": 1}) == {"_id": "a"}


async def test_update_set_replace_upsert_and_delete_change_one_document(database: Database) -> None:
    c = database["rows"]
    await c.replace_one({"_id": "a"}, {"_id": "a", "seq": 1, "state": {"v": 1}}, upsert=True)
    await c.replace_one({"_id": "a"}, {"_id": "a", "seq": 2}, upsert=True)
    assert await c.find_one({"_id": "a"}) == {"_id": "a", "seq": 2}
    await c.replace_one({"_id": "b"}, {"_id": "b", "seq": 1})  # no upsert: nothing to replace, nothing written
    assert await c.find_one({"_id": "b"}) is None
    await c.update_one({"_id": "a"}, {"$set": {"published": True, "skipped": {"reason": "r", "at": T0}}})
    assert await c.find_one({"_id": "a"}) == {
        "_id": "a",
        "seq": 2,
        "published": True,
        "skipped": {"reason": "r", "at": T0},
    }
    await c.update_one({"_id": "nobody"}, {"$set": {"published": True}})
    assert await c.find_one({"_id": "nobody"}) is None
    await c.insert_one({"_id": "c"})
    await c.delete_one({"_id": "a"})
    await c.delete_one({"_id": "a"})
    assert await ids(c, {}) == ["c"]


async def test_a_projection_write_never_goes_back_to_an_older_seq(database: Database) -> None:
    c = database["views"]
    assert await projected_seq(c, "v1") == 0
    await project(c, "v1", 2, {"state": "second"})  # none there: inserted
    await project(c, "v1", 1, {"state": "first"})  # older: refused, the newer stays
    await project(c, "v1", 2, {"state": "again"})  # the same seq: kept as it is
    assert await c.find_one({"_id": "v1"}) == {"_id": "v1", "seq": 2, "state": "second"}
    await project(c, "v1", 5, {"state": "fifth"})  # newer: replaces
    assert (await c.find_one({"_id": "v1"}), await projected_seq(c, "v1")) == (
        {"_id": "v1", "seq": 5, "state": "fifth"},
        5,
    )


async def test_a_key_holding_a_dot_is_refused_at_any_depth(database: Database) -> None:
    """FerretDB 1.24 refuses a '.' in a document key (MongoDB 7 would store it): so no code may write one, such as
    an id used as a key of a state (issue 15's transfer ids)."""
    docs = database["dotted"]
    with pytest.raises(WriteError):
        await docs.insert_one({"_id": "a", "state": {"trf_hold.pay_1:debit": 1}})
    with pytest.raises(WriteError):
        await docs.replace_one({"_id": "b"}, {"state": {"x": [{"a.b": 1}]}}, upsert=True)
    await docs.insert_one({"_id": "c", "state": {"trf_hold:pay_1:debit": 1}})
    assert await docs.find_one({"_id": "a"}) is None and await docs.find_one({"_id": "b"}) is None
