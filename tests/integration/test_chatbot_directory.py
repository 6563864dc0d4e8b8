"""The chatbot directory's search, on SQLite and on PostgreSQL: terms, ranking, filters, visibility, re-indexing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from msg5g.channels import ChannelRegistry
from msg5g.config import Settings
from msg5g.domain.errors import ValidationFailed
from msg5g.kit.secrets import SecretBox
from msg5g.pipeline.sql_queue import SqlQueue
from msg5g.services import chatbot_directory
from msg5g.services.chatbot_directory import ChatbotDirectory, DirectoryEntry
from msg5g.services.context import ServiceContext
from msg5g.services.directory_terms import document_terms, normalise, query_terms
from msg5g.storage.database import Database
from msg5g.storage.directory_repository import DirectoryRepository
from msg5g.storage.migrate import upgrade_async
from tests.conftest import postgres_database

A, B, C, D, E, F, X = "tenant-a", "tenant-b", "tenant-c", "tenant-d", "tenant-e", "tenant-f", "tenant-x"
STRANGER = "tenant-z"  # owns nothing


def _entry(profile_id: str, tenant_id: str, name: str, category: str, description: str, carriers: tuple[str, ...],
           keywords: tuple[str, ...] = (), *, published: bool = True, status: str = "live") -> DirectoryEntry:
    return DirectoryEntry(profile_id=profile_id, tenant_id=tenant_id, name=name, category=category,
                          description=description, carriers=carriers, keywords=keywords, published=published,
                          status=status, sms_number="10690000", chatbot_uri=f"sip:{profile_id}@botplatform.example")


# Indexed in this order, so where two hits tie on level and name length the earlier one comes first.
CHATBOTS = [
    _entry("p01", A, "招商银行信用卡", "银行", "招商银行信用卡官方5G消息：账单查询、还款提醒", ("cmcc", "ctcc", "cucc"),
           ("信用卡", "credit card")),
    _entry("p02", B, "中国银行", "银行", "中国银行官方服务号，查询余额与转账", ("cmcc", "cucc"), ("Bank of China",)),
    _entry("p03", C, "银联客服", "金融", "银联在线客服，支付问题咨询", ("cmcc",), ("云闪付",)),
    _entry("p04", C, "信用评估", "金融", "个人信用报告与评分查询", ("ctcc",), ("征信",)),
    _entry("p05", D, "顺丰快递", "物流", "顺丰快递官方服务号，寄件、查件与客服", ("cmcc", "ctcc", "cucc"),
           ("SF Express", "快递查询")),
    _entry("p06", E, "China Bank", "银行", "Personal and business banking", ("aggregator",)),
    _entry("p07", E, "Bank of Ningbo", "银行", "宁波银行 official chatbot", ("cucc",), ("宁波银行",)),
    _entry("p08", F, "银行", "金融", "银行网点查询", ("cmcc",)),
    _entry("p09", F, "客服中心", "生活服务", "通用在线客服", ("ctcc",)),
    _entry("p10", A, "招商银行", "银行", "招商银行官方服务号", ("cmcc",)),
    _entry("p11", D, "平安信用卡客服", "保险", "平安银行信用卡客服热线", ("ctcc", "cucc"), ("信用卡",)),
    _entry("p12", D, "京东客服", "电商", "京东商城售后服务，支持银行卡支付", ("cmcc", "ctcc")),
    _entry("p13", F, "Bankers Club", "其他", "A club for bank staff", ("cmcc",)),
    # Not live on any carrier: only their own tenants find them.
    _entry("p14", X, "宁波银行信用卡", "银行", "宁波银行信用卡中心", ("cucc",), published=False, status="submitted"),
    _entry("p15", B, "中信银行", "银行", "中信银行官方服务号", ("ctcc",)),
    _entry("p16", B, "邮储银行", "银行", "邮储银行服务号", ("cmcc",), published=False, status="submitted"),
]


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[Database]:
    async with AsyncExitStack() as stack:
        url = sqlite_url if request.param == "sqlite" else await stack.enter_async_context(postgres_database())
        await upgrade_async(url)
        db = Database(url)
        yield db
        await db.dispose()


@pytest_asyncio.fixture
async def directory(database: Database, tmp_path: Path) -> AsyncIterator[ChatbotDirectory]:
    settings = Settings(database_url=database.url, data_dir=tmp_path)
    async with aiohttp.ClientSession() as http:
        ctx = ServiceContext(settings=settings, db=database, queue=SqlQueue(database, visibility_timeout=30),
                             registry=ChannelRegistry([]), http=http,
                             secrets=SecretBox.from_settings(settings.credentials_keys, settings.secret_key))
        directory = ChatbotDirectory(ctx)
        for entry in CHATBOTS:
            await directory.index(entry)
        yield directory


async def _found(directory: ChatbotDirectory, query: str, viewer: str | None = None, **filters: Any) -> list[str]:
    return [hit.profile_id for hit in await directory.search(query, viewer_tenant_id=viewer, **filters)]


async def _reasons(directory: ChatbotDirectory, query: str, viewer: str | None = None) -> list[tuple[str, str]]:
    return [(hit.profile_id, hit.reason) for hit in await directory.search(query, viewer_tenant_id=viewer)]


def test_terms_are_bigrams_and_unigrams_for_chinese_and_word_prefixes_otherwise() -> None:
    assert query_terms("招商银行") == ["招商", "商银", "银行"]
    assert query_terms("银") == ["银"]
    assert query_terms("Bank of") == ["bank", "of"]
    assert query_terms("ＳＦ快递 sf") == ["sf", "快递"]  # full-width folded, Latin and CJK runs apart, no repeats
    assert query_terms("银行 客服") == ["银行", "客服"]  # a space separates keywords
    assert "商银" in document_terms("招商 银行", "", [], "")  # but not in a name
    assert normalise("Bank-of  NINGBO!") == "bank of ningbo"
    assert normalise("招商 银行，5G 消息") == "招商银行 5g 消息"
    terms = document_terms("招商银行", "银行", ["credit card"], "账单查询，卡")
    assert {"招", "招商", "商银", "银行", "行"} <= terms.keys()  # the name: bigrams and unigrams
    assert {"c", "cr", "credit", "card"} <= terms.keys()  # keywords: every word prefix
    assert {"账单", "单查", "卡"} <= terms.keys()  # the description: bigrams, a lone character
    assert "账" not in terms  # but no unigrams of longer runs


@pytest.mark.asyncio
async def test_ranking(directory: ChatbotDirectory) -> None:
    expected = {
        # exact name > name substring (shorter names first) > category > description
        "银行": [("p08", "exact_name"), ("p02", "name_substring"), ("p10", "name_substring"),
                 ("p15", "name_substring"), ("p01", "name_substring"), ("p06", "category"), ("p07", "category"),
                 ("p12", "description"), ("p11", "description")],
        "信用": [("p04", "name_prefix"), ("p01", "name_substring"), ("p11", "name_substring")],
        "客服": [("p09", "name_prefix"), ("p03", "name_substring"), ("p12", "name_substring"),
                 ("p11", "name_substring"), ("p05", "description")],
        # One character: names and categories (a description has no unigrams).
        "银": [("p08", "name_prefix"), ("p03", "name_prefix"), ("p02", "name_substring"), ("p10", "name_substring"),
               ("p15", "name_substring"), ("p01", "name_substring"), ("p06", "category"), ("p07", "category")],
        "bank": [("p13", "name_prefix"), ("p07", "name_prefix"), ("p06", "name_substring"), ("p02", "keyword")],
        "ban": [("p13", "name_prefix"), ("p07", "name_prefix"), ("p06", "name_substring"), ("p02", "keyword")],
        "CHINA": [("p06", "name_prefix"), ("p02", "keyword")],
        "ＣＨＩＮＡ": [("p06", "name_prefix"), ("p02", "keyword")],
        "Bank of": [("p07", "name_prefix"), ("p02", "keyword")],
        "ningbo bank": [("p07", "name_words")],
        "招商银行": [("p10", "exact_name"), ("p01", "name_prefix")],
        # Apart in a query, Chinese keywords need not be adjacent; names compare without the space.
        "招商 银行": [("p10", "exact_name"), ("p01", "name_prefix")],
        "中国 服务": [("p02", "description")],
        "宁波银行": [("p07", "keyword")],
        "银行 客服": [("p12", "description"), ("p11", "description")],
        "sf": [("p05", "keyword")],
        "快递": [("p05", "name_substring")],
        "staff": [("p13", "description")],
        "banking": [("p06", "description")],  # a description's words are indexed whole...
        "banki": [],  # ...not by prefix
        "不存在": [],
        "！？": [],
    }
    found = {query: await _reasons(directory, query) for query in expected}
    assert found == expected


@pytest.mark.asyncio
@pytest.mark.parametrize("scan_cap", [None, 4])
async def test_multi_term_ranking_is_right_at_the_top_when_every_term_is_common(
        directory: ChatbotDirectory, monkeypatch: pytest.MonkeyPatch, scan_cap: int | None) -> None:
    # With the caps this low both terms of "acme bank" are common: the candidates are then the first
    # ones in the rarest term's rank order (among its first `scan_cap` postings), where name matches
    # come first, whatever order they were indexed in.
    monkeypatch.setattr(chatbot_directory, "CANDIDATE_CAP", 3)
    monkeypatch.setattr(chatbot_directory, "FILTER_CAP", 0)  # the category filter below: walk the postings
    if scan_cap is not None:
        monkeypatch.setattr(chatbot_directory, "SCAN_CAP", scan_cap)
    await directory.index_many(
        [_entry(f"desc-{n}", A, f"Other {n}", "其他", "acme bank partner", ("cmcc",)) for n in range(6)]
        + [_entry(f"branch-{n}", A, f"Acme Bank Branch {n}", "银行", "", ("cmcc",)) for n in range(4)]
        + [_entry("acme", A, "Acme Bank", "银行", "", ("cmcc",))])
    hits = await directory.search("acme bank", viewer_tenant_id=None, limit=3)
    assert [(hit.profile_id, hit.reason) for hit in hits] == [
        ("acme", "exact_name"), ("branch-0", "name_prefix"), ("branch-1", "name_prefix")]
    # What the scan cap gives up, for a bound on the work: two common terms that meet only beyond the
    # first postings of the one that drives (acme: its first four are names without "partner"), or
    # under a filter (that many chatbots pass) beyond them.
    expected = ["desc-0", "desc-1", "desc-2"]
    assert await _found(directory, "acme partner", limit=3) == ([] if scan_cap else expected)
    assert await _found(directory, "acme bank", category="其他", limit=3) == ([] if scan_cap else expected)
    hits = await directory.search("acme bank", viewer_tenant_id=None, category="银行", limit=2)
    assert [(hit.profile_id, hit.reason) for hit in hits] == [("acme", "exact_name"), ("branch-0", "name_prefix")]


@pytest.mark.asyncio
@pytest.mark.parametrize("filter_cap", [None, 0], ids=["few-pass-the-filter", "many-pass-the-filter"])
async def test_filters(directory: ChatbotDirectory, monkeypatch: pytest.MonkeyPatch, filter_cap: int | None) -> None:
    # The fixture is small, so a category or status filter drives the search; with the cap at 0 the
    # terms' postings are walked instead. Both must give the same.
    if filter_cap is not None:
        monkeypatch.setattr(chatbot_directory, "FILTER_CAP", filter_cap)
    assert await _found(directory, "银行", category="银行") == ["p02", "p10", "p15", "p01", "p06", "p07"]
    assert await _found(directory, "银行", carrier="cucc") == ["p02", "p01", "p07", "p11"]
    assert await _found(directory, "bank", carrier="aggregator") == ["p06"]
    assert await _found(directory, "招商银行", carrier="ctcc") == ["p01"]
    assert await _found(directory, "银行 客服", category="电商") == ["p12"]
    assert await _found(directory, "银行", carrier="cmc") == []  # a carrier is matched whole
    assert await _found(directory, "银行", status="submitted") == []  # the public sees no unpublished one
    assert await _found(directory, "银行", B, status="submitted") == ["p16"]
    assert await _found(directory, "银行", B, status="live", category="银行") == ["p02", "p10", "p15", "p01", "p06",
                                                                                    "p07"]
    assert await _found(directory, "银行", category="银行", carrier="cucc") == ["p02", "p01", "p07"]
    assert await _found(directory, "银", category="金融") == ["p08", "p03"]
    assert await _found(directory, "银行", category="银行", limit=2, offset=3) == ["p01", "p06"]
    hits = await directory.search("银行", viewer_tenant_id=X, category="银行", status="submitted")
    assert [(hit.profile_id, hit.reason) for hit in hits] == [("p14", "name_substring")]
    hits = await directory.search("bank", viewer_tenant_id=None, category="银行")
    assert [(hit.profile_id, hit.reason) for hit in hits] == [("p07", "name_prefix"), ("p06", "name_substring"),
                                                              ("p02", "keyword")]


@pytest.mark.asyncio
async def test_pages(directory: ChatbotDirectory) -> None:
    assert [h.profile_id for h in await directory.search("银行", viewer_tenant_id=None, limit=3, offset=2)] == [
        "p10", "p15", "p01"]
    assert [h.profile_id for h in await directory.search("银行 客服", viewer_tenant_id=None, limit=1, offset=1)] == [
        "p11"]
    assert await directory.search("银行", viewer_tenant_id=None, offset=9) == []
    with pytest.raises(ValidationFailed):
        await directory.search("银行", viewer_tenant_id=None, limit=0)
    with pytest.raises(ValidationFailed):
        await directory.search("银行", viewer_tenant_id=None, offset=-1)


@pytest.mark.asyncio
async def test_an_unpublished_chatbot_is_found_by_its_own_tenant_only(directory: ChatbotDirectory) -> None:
    for query in ("宁波银行信用卡", "宁波银行", "银行", "信用", "银", "宁"):
        for viewer in (None, A, STRANGER):
            assert "p14" not in await _found(directory, query, viewer), (query, viewer)
    assert await _reasons(directory, "宁波银行信用卡", X) == [("p14", "exact_name")]
    assert await _reasons(directory, "宁波银行", X) == [("p14", "name_prefix"), ("p07", "keyword")]
    # Its own tenant also sees everything public, ranked together with its own.
    assert await _found(directory, "银行", X) == ["p08", "p02", "p10", "p15", "p01", "p14", "p06", "p07", "p12",
                                                  "p11"]
    assert await _found(directory, "银行", B) == ["p08", "p02", "p10", "p15", "p16", "p01", "p06", "p07", "p12",
                                                  "p11"]
    [hit] = await directory.search("邮储", viewer_tenant_id=B)
    assert (hit.profile_id, hit.published, hit.status) == ("p16", False, "submitted")


@pytest.mark.asyncio
async def test_reindexing_replaces_the_old_terms(directory: ChatbotDirectory) -> None:
    renamed = CHATBOTS[8].model_copy(update={"name": "服务大厅", "description": "通用在线咨询"})  # was 客服中心
    await directory.index(renamed)
    assert "p09" not in await _found(directory, "客服")
    assert await _reasons(directory, "服务大厅") == [("p09", "exact_name")]
    [hit] = await directory.search("大厅", viewer_tenant_id=None)
    assert (hit.name, hit.description) == ("服务大厅", "通用在线咨询")
    async with directory._ctx.db.reader() as session:
        terms = await DirectoryRepository(session).terms_of("p09")
    assert "客服" not in terms
    assert "大厅" in terms
    # Unpublished on re-indexing: gone from the public directory, still there for its tenant.
    await directory.index(CHATBOTS[14].model_copy(update={"published": False, "status": "offline"}))
    assert "p15" not in await _found(directory, "中信银行")
    assert await _found(directory, "中信银行", B) == ["p15"]
    assert await _found(directory, "银行", B, status="offline") == ["p15"]


@pytest.mark.asyncio
async def test_remove(directory: ChatbotDirectory) -> None:
    assert await directory.remove("p08") is True
    assert await _found(directory, "银行") == ["p02", "p10", "p15", "p01", "p06", "p07", "p12", "p11"]
    assert await directory.remove("p08") is False
    async with directory._ctx.db.reader() as session:
        assert await DirectoryRepository(session).terms_of("p08") == {}
        assert await DirectoryRepository(session).entry("p08") is None
    await directory.index(CHATBOTS[7])
    assert (await _found(directory, "银行"))[0] == "p08"
