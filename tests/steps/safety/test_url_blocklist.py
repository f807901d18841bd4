import gzip
import pickle

from datamill.core.record import make_record
from datamill.core.step import REGISTRY
from datamill.steps.safety.url_blocklist import URLBlocklist, normalize_url, url_host


def rec(url):
    return make_record("x", "text", url=url)


def test_registered():
    assert REGISTRY["url_blocklist"] is URLBlocklist


def test_domain_and_subdomains():
    f = URLBlocklist(domains=["Example.com", "*.bad.org", "xxx"])
    assert f.keep(rec("https://example.com/a")) == "url_blocked_domain"
    assert f.keep(rec("http://WWW.Example.COM:8080/a?b=1")) == "url_blocked_domain"
    assert f.keep(rec("https://a.b.example.com./")) == "url_blocked_domain"
    assert f.keep(rec("https://user:pw@cdn.bad.org/x")) == "url_blocked_domain"
    assert f.keep(rec("https://site.xxx/")) == "url_blocked_domain"
    assert f.keep(rec("example.com/no-scheme")) == "url_blocked_domain"
    assert f.keep(rec("https://badexample.com/")) is None
    assert f.keep(rec("https://example.com.evil.net/")) is None
    assert f.keep(rec("https://good.org/example.com")) is None


def test_www_entry_does_not_block_parent():
    f = URLBlocklist(domains=["www.example.com"])
    assert f.keep(rec("https://www.example.com/")) == "url_blocked_domain"
    assert f.keep(rec("https://example.com/")) is None


def test_exact_url():
    f = URLBlocklist(urls=["https://Example.com/page?id=1#top", "http://x.org"])
    assert f.keep(rec("http://example.com/page?id=1")) == "url_blocked_url"
    assert f.keep(rec("https://example.com:443/page?id=1#other")) == "url_blocked_url"
    assert f.keep(rec("https://x.org/")) == "url_blocked_url"
    assert f.keep(rec("https://example.com/page?id=2")) is None
    assert f.keep(rec("https://example.com/Page?id=1")) is None


def test_files(tmp_path):
    dom = tmp_path / "domains.txt"
    dom.write_text("# adult sites\nblocked.com  # trailing comment\n\n  spam.net\n")
    urls = tmp_path / "urls.txt.gz"
    with gzip.open(urls, "wt") as fh:
        fh.write("# exact urls\nhttps://ok.com/bad-page\n")
    f = URLBlocklist(domains_file=str(dom), urls_file="file://" + str(urls))
    f.ensure_setup()
    assert f.keep(rec("https://a.blocked.com/")) == "url_blocked_domain"
    assert f.keep(rec("https://spam.net")) == "url_blocked_domain"
    assert f.keep(rec("https://ok.com/bad-page")) == "url_blocked_url"
    assert f.keep(rec("https://ok.com/good-page")) is None


def test_banned_subwords_and_order():
    f = URLBlocklist(domains=["ok.com"], urls=["https://ok.com/x"], banned_subwords=["Casino"])
    assert f.keep(rec("https://www.online-casino.net/")) == "url_banned_subword"
    assert f.keep(rec("https://ok.com/x")) == "url_blocked_url"
    assert f.keep(rec("https://ok.com/y")) == "url_blocked_domain"
    assert f.keep(rec("https://example.net/")) is None


def test_records_without_url_pass():
    f = URLBlocklist(domains=["a.com"], banned_subwords=["a"])
    assert f.keep({"id": "1", "text": "t"}) is None
    assert f.keep({"id": "1", "text": "t", "metadata": {"url": None}}) is None
    assert f.keep({"id": "1", "text": "t", "metadata": {}}) is None


def test_idn():
    f = URLBlocklist(domains=["bücher.de"])
    assert f.keep(rec("https://www.xn--bcher-kva.de/")) == "url_blocked_domain"
    assert f.keep(rec("https://shop.bücher.de/")) == "url_blocked_domain"


def test_helpers():
    assert url_host("HTTPS://User@WWW.Ex.com:81/p") == "www.ex.com"
    assert url_host("") is None and url_host("http://[::1") is None
    assert normalize_url("https://ex.com") == "ex.com/"
    assert normalize_url("https://ex.com:8443/a#f") == "ex.com:8443/a"


def test_pickle_keeps_params(tmp_path):
    f = URLBlocklist(domains=["a.com"], banned_subwords=["porn"])
    clone = pickle.loads(pickle.dumps(f))
    assert clone.params == f.params
    assert clone.keep(rec("https://x.a.com/")) == "url_blocked_domain"


def test_nsfw_domain_list_is_counted_apart(tmp_path):
    nsfw = tmp_path / "adult.txt"
    nsfw.write_text("# adult sites\nadult-example.com\n色情网站.cn\n", encoding="utf-8")
    f = URLBlocklist(domains=["spam.com"], nsfw_domains_file=str(nsfw))
    assert f.keep(rec("https://www.adult-example.com/x")) == "url_nsfw_domain"
    assert f.keep(rec("https://色情网站.cn/页面")) == "url_nsfw_domain"
    assert f.keep(rec("https://spam.com/")) == "url_blocked_domain"
    assert f.keep(rec("https://news.example.com/")) is None


def test_banned_subwords_file(shared_data, tmp_path):
    words = shared_data / "badwords" / "datatrove" / "banned_subwords.txt"
    f = URLBlocklist(banned_subwords_file=str(words))
    listed = [w.strip() for w in words.read_text(encoding="utf-8").splitlines() if w.strip() and " " not in w]
    assert f.keep(rec(f"https://example.com/{listed[0]}/page")) == "url_banned_subword"
    assert f.keep(rec("https://example.com/weather/today")) is None
