"""The second-tenant cases of contacts, conversations and auto-reply rules, for
test_tenant_isolation.ISOLATION_CASES (each takes the isolation test's World, whose tenant A has a
conversation with UPLINK_USER_A from the world's uplink)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from tests.e2e.library import wait_for

Case = Callable[[Any], Awaitable[None]]
A_NUMBER = "+8613700137000"  # the isolation world's UPLINK_USER_A
SECRET = "A 的客户"


async def _call(w: Any, method: str, path: str, tenant: Any, body: Any = None) -> tuple[int, Any]:
    async with w.http.request(method, f"{w.stack.base_url}{path}", json=body, headers=w.stack.auth(tenant)) as r:
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def _a_contact(w: Any) -> None:
    status, answer = await _call(w, "PUT", f"/v1/contacts/{quote(A_NUMBER)}", w.a,
                                 {"attributes": {"name": SECRET}, "tags": ["a-tag"]})
    assert status == 200, answer


def _hidden(answer: Any) -> None:
    text = json.dumps(answer, ensure_ascii=False)
    assert SECRET not in text, text
    assert "a-tag" not in text, text


async def _list_contacts(w: Any) -> None:
    await _a_contact(w)
    for query in ("", "?tag=a-tag", "?limit=500"):
        status, listed = await _call(w, "GET", f"/v1/contacts{query}", w.b)
        assert status == 200, listed
        assert A_NUMBER not in {c["number"] for c in listed}, query
        _hidden(listed)
    status, listed = await _call(w, "GET", "/v1/contacts", w.a)
    assert A_NUMBER in {c["number"] for c in listed}


def _contact_case(method: str) -> Case:
    async def case(w: Any) -> None:
        await _a_contact(w)
        body = {"attributes": {"name": "B 改的"}} if method == "PUT" else None
        status, answer = await _call(w, method, f"/v1/contacts/{quote(A_NUMBER)}", w.b, body)
        if method == "PUT":  # B's own contact with that number: A's stays as it was
            assert status == 200, answer
            _hidden(answer)
        else:
            assert status == 404, answer
        a_view = await w.stack.platform.services.conversations.contact(w.a.tenant_id, A_NUMBER)
        assert a_view.attributes == {"name": SECRET}
        status, answer = await _call(w, method, f"/v1/contacts/{quote(A_NUMBER)}", w.a, body)  # control
        assert status in {200, 204}, answer

    return case


async def _a_conversation(w: Any) -> dict[str, Any]:
    async def found() -> list[Any] | None:
        status, listed = await _call(w, "GET", "/v1/conversations", w.a)
        assert status == 200, listed
        return list(listed) or None
    [conversation] = await wait_for(found, "A's conversation")
    return dict(conversation)


async def _list_conversations(w: Any) -> None:
    a_conversation = await _a_conversation(w)
    for query in ("", f"?number={quote(A_NUMBER)}", f"?chatbot_id={w.a.chatbot_id}", "?mode=bot"):
        status, listed = await _call(w, "GET", f"/v1/conversations{query}", w.b)
        assert status == 200, listed
        assert a_conversation["id"] not in {c["id"] for c in listed}, query
        assert A_NUMBER not in json.dumps(listed)


async def _read_conversation(w: Any) -> None:
    a_conversation = await _a_conversation(w)
    status, answer = await _call(w, "GET", f"/v1/conversations/{a_conversation['id']}", w.b)
    missing = await _call(w, "GET", "/v1/conversations/no-such-conversation", w.b)
    assert status == 404, answer
    assert (status, answer) == missing
    status, answer = await _call(w, "GET", f"/v1/conversations/{a_conversation['id']}", w.a)
    assert status == 200, answer
    assert any(h["direction"] == "up" for h in answer["history"])


def _rule_body(name: str = "A 的规则") -> dict[str, Any]:
    return {"name": name, "conditions": {"match": "exact", "keywords": ["A 的暗号"]},
            "actions": [{"kind": "reply", "content": {"kind": "text", "text": "A 的回复"}}]}


async def _a_rule(w: Any) -> dict[str, Any]:
    status, created = await _call(w, "POST", f"/v1/chatbots/{w.a.chatbot_id}/auto-reply-rules", w.a, _rule_body())
    assert status == 201, created
    return dict(created)


def _rules_case(method: str, suffix: str = "", body: dict[str, Any] | None = None, *, per_rule: bool = False,
                control_status: int = 200) -> Case:
    """B reaches neither A's chatbot's rules nor A's rule through B's own chatbot."""

    async def case(w: Any) -> None:
        rule = await _a_rule(w)
        rule_part = f"/{rule['id']}" if per_rule else ""
        before = await _call(w, "GET", f"/v1/chatbots/{w.a.chatbot_id}/auto-reply-rules", w.a)
        for chatbot in (w.a.chatbot_id, w.b.chatbot_id if per_rule else "no-such-chatbot"):
            status, answer = await _call(w, method, f"/v1/chatbots/{chatbot}/auto-reply-rules{rule_part}{suffix}",
                                         w.b, body)
            assert status == 404, (chatbot, answer)
            assert "A 的" not in json.dumps(answer, ensure_ascii=False)
        assert await _call(w, "GET", f"/v1/chatbots/{w.a.chatbot_id}/auto-reply-rules", w.a) == before
        status, answer = await _call(w, method, f"/v1/chatbots/{w.a.chatbot_id}/auto-reply-rules{rule_part}{suffix}",
                                     w.a, body)  # control
        assert status == control_status, answer

    return case


API_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/v1/contacts"): _list_contacts,
    ("GET", "/v1/contacts/{number}"): _contact_case("GET"),
    ("PUT", "/v1/contacts/{number}"): _contact_case("PUT"),
    ("DELETE", "/v1/contacts/{number}"): _contact_case("DELETE"),
    ("GET", "/v1/conversations"): _list_conversations,
    ("GET", "/v1/conversations/{conversation_id}"): _read_conversation,
    ("GET", "/v1/chatbots/{chatbot_id}/auto-reply-rules"): _rules_case("GET"),
    ("POST", "/v1/chatbots/{chatbot_id}/auto-reply-rules"): _rules_case("POST", body=_rule_body("B 的"),
                                                                        control_status=201),
    ("POST", "/v1/chatbots/{chatbot_id}/auto-reply-rules/test"): _rules_case("POST", "/test",
                                                                             {"text": "A 的暗号"}),
    ("GET", "/v1/chatbots/{chatbot_id}/auto-reply-rules/{rule_id}"): _rules_case("GET", per_rule=True),
    ("PUT", "/v1/chatbots/{chatbot_id}/auto-reply-rules/{rule_id}"): _rules_case(
        "PUT", body=_rule_body("B 改的"), per_rule=True),
    ("DELETE", "/v1/chatbots/{chatbot_id}/auto-reply-rules/{rule_id}"): _rules_case(
        "DELETE", per_rule=True, control_status=204),
}


# ---- the admin's auto-reply pages ------------------------------------------------------------------------

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def _unknown_alike(foreign: Any, unknown: Any, a_id: str) -> None:
    assert foreign.status == 404, foreign.text[:300]
    assert (foreign.status, foreign.text.replace(a_id, UNKNOWN)) == (unknown.status, unknown.text)


def _admin_rules_case(method: str, suffix: str = "", fields: dict[str, str] | None = None, *,
                      per_rule: bool = False) -> Case:
    """B's admin reaches neither A's chatbot's rules page nor its forms; A's admin does (the control)."""

    async def case(w: Any) -> None:
        a, b = await w.admins()
        rule = await _a_rule(w)
        part = f"/{rule['id']}" if per_rule else ""
        before = await _call(w, "GET", f"/v1/chatbots/{w.a.chatbot_id}/auto-reply-rules", w.a)
        path = f"/chatbots/{w.a.chatbot_id}/rules{part}{suffix}"
        unknown_path = f"/chatbots/{UNKNOWN}/rules{part}{suffix}"
        if method == "GET":
            foreign, unknown = await b.get(path), await b.get(unknown_path)
        else:
            foreign = await b.submit("/", path, fields or {})
            unknown = await b.submit("/", unknown_path, fields or {})
        _unknown_alike(foreign, unknown, w.a.chatbot_id)
        assert "A 的" not in foreign.text
        assert await _call(w, "GET", f"/v1/chatbots/{w.a.chatbot_id}/auto-reply-rules", w.a) == before
        page = await (a.get(path) if method == "GET" else a.submit(f"/chatbots/{w.a.chatbot_id}/rules", path,
                                                                    fields or {}))
        assert page.status == 200, page.text[:300]

    return case


ADMIN_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/admin/chatbots/{chatbot_id}/rules"): _admin_rules_case("GET"),
    ("POST", "/admin/chatbots/{chatbot_id}/rules"): _admin_rules_case(
        "POST", fields={"rule": json.dumps(_rule_body("A 以外的"), ensure_ascii=False)}),
    ("POST", "/admin/chatbots/{chatbot_id}/rules/test"): _admin_rules_case("POST", "/test", {"text": "A 的暗号"}),
    ("POST", "/admin/chatbots/{chatbot_id}/rules/{rule_id}/delete"): _admin_rules_case("POST", "/delete",
                                                                                      per_rule=True),
    ("POST", "/admin/chatbots/{chatbot_id}/rules/{rule_id}/enabled"): _admin_rules_case(
        "POST", "/enabled", {"enabled": "false"}, per_rule=True),
}
