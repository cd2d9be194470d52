"""Sandbox users' identities: the user id (2088…), the per-app open id of the OpenID regime, and login names.

Open ids are kept both ways in one lookup collection (``<open id>`` → user and ``u:<user id>`` → open id), each
written with a unique insert, so racing first uses agree on one mapping.
"""

from __future__ import annotations

from services.sandbox.alipay import domain as d
from services.sandbox.alipay.runtime import Alipay


def open_id_mode(alipay: Alipay) -> bool:
    return alipay.settings.alipay_user_id_mode == "open_id"


async def open_id_of(alipay: Alipay, user_id: str) -> str:
    """The user's open id in this app (derived on first use, then as recorded)."""
    store = alipay.store
    recorded = await store.user_of("openId", "u:" + user_id)
    if recorded is not None:
        return recorded
    candidate = d.open_id(alipay.app_id, user_id)
    chosen = await store.remember_identity("openId", "u:" + user_id, candidate)
    await store.remember_identity("openId", chosen, user_id)
    return chosen


async def user_of_open_id(alipay: Alipay, open_id: str) -> str:
    """The user an open id belongs to; an open id the sandbox has never seen is a new user's."""
    store = alipay.store
    found = await store.user_of("openId", open_id)
    if found is not None:
        return found
    user_id = await store.remember_identity("openId", open_id, alipay.ids.user_id())
    await store.remember_identity("openId", "u:" + user_id, open_id)
    return user_id


async def resolve(alipay: Alipay, kind: str, account: str) -> str:
    """The canonical user id of an account named as userId, openId or loginName."""
    if kind == "userId":
        return account
    if kind == "openId":
        return await user_of_open_id(alipay, account)
    found = await alipay.store.user_of("loginName", account)
    if found is not None:
        return found
    return await alipay.store.remember_identity("loginName", account, alipay.ids.user_id())


async def buyer(alipay: Alipay, user_id: str | None, open_id: str | None) -> tuple[str, str | None]:
    """(user id, open id in open_id mode else None) of the buyer a test action names by either id, or a new one."""
    if open_id:
        uid = await user_of_open_id(alipay, open_id)
    else:
        uid = user_id or alipay.ids.user_id()
    return uid, (await open_id_of(alipay, uid) if open_id_mode(alipay) else None)
