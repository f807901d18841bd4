import pickle

import pytest

from datamill.core.record import make_record
from datamill.core.step import REGISTRY
from datamill.core.stats import StepStats
from datamill.core.step import StepContext
from datamill.steps.safety.pii import PIIRedact, PIISignals, find_pii, is_public_ip


def redact(text, **kw):
    return PIIRedact(**kw).redact(text)[0]


def test_registered():
    assert REGISTRY["pii_redact"] is PIIRedact


def test_emails_in_realistic_text():
    text = ("For press enquiries write to Jane.Doe+press@news.example-media.co.uk, or to our "
            "office (info@Bundesamt.DE). Reply-To: <j_smith99@mail.univ.edu>.")
    out, n_emails, n_ips = PIIRedact().redact(text)
    assert n_emails == 3 and n_ips == 0
    assert "Jane.Doe" not in out and "Bundesamt" not in out and "j_smith99" not in out
    assert out == ("For press enquiries write to email@example.com, or to our office "
                   "(email@example.com). Reply-To: <email@example.com>.")


def test_email_sentence_end_and_mailto():
    assert redact("mail me at bob@mail.org.") == "mail me at email@example.com."
    assert redact('<a href="mailto:bob@mail.org">') == '<a href="mailto:email@example.com">'


def test_email_non_matches():
    for text in ["logo@2x.png and icon@3x.jpg", "@username said", "npm i @babel/core@7.22.0",
                 "user@localhost", "a @ b.com", "price: 5@10.00", "foo@bar"]:
        assert find_pii(text, ip_addresses=False) == [], text


def test_public_ipv4_redacted_private_untouched():
    private = ["10.0.0.1", "172.16.4.1", "172.31.254.254", "192.168.1.2", "127.0.0.1",
               "169.254.10.3", "100.64.0.1", "0.1.2.3", "224.0.0.251", "255.255.255.255",
               "192.0.2.44", "198.51.100.7", "203.0.113.9"]
    public = ["8.8.8.8", "163.36.107.25", "4.132.211.142", "93.184.216.34"]
    text = " ".join(private + public)
    out, _, n_ips = PIIRedact().redact(text)
    assert n_ips == len(public)
    for ip in private:
        assert ip in out
    for ip in public:
        assert ip not in out.split()


def test_invalid_ipv4_not_matched():
    for text in ["999.999.999.999", "108.0.0.01", "00.0000.00.00", "192.168.l.1",
                 "912.456.123.123", "1.2.3.4.5", "version 10.20.30.40.50", "v1.2.3.4",
                 "on 12.10.2023 at 10.30", "2023.10.12", "Version 5.4.3.2", "build 10.0.19041.1", "firmware v.3.1.4.1", "1.2.3"]:
        assert find_pii(text, emails=False) == [], text


def test_ipv4_with_port_url_and_punctuation():
    out, _, n = PIIRedact(ip_replacements=["<IP>"]).redact(
        "GET http://93.184.216.34:8080/x from 8.8.4.4, then (1.1.1.1).")
    assert n == 3
    assert out == "GET http://<IP>:8080/x from <IP>, then (<IP>)."


def test_ipv6():
    text = ("Cloudflare 2606:4700:4700::1111, Google 2001:4860:4860:0:0:0:0:8888, "
            "local fe80::1%eth0, loopback ::1, doc 2001:db8::5, ula fd12:3456::1")
    out, _, n = PIIRedact().redact(text)
    assert n == 2
    assert "2606:4700" not in out and "2001:4860" not in out
    for keep in ["fe80::1", "::1", "2001:db8::5", "fd12:3456::1"]:
        assert keep in out


def test_ipv6_non_matches():
    for text in ["12:30:45", "std::vector<int>", "00:1a:2b:3c:4d:5e", "Foo::Bar::baz",
                 "dead::beef", "a::b", "ratio 1:2:3"]:
        assert find_pii(text, emails=False) == [], text


def test_replacement_is_stable_and_idempotent():
    step = PIIRedact()
    a = step.redact("x 8.8.8.8 y 8.8.8.8 z 1.1.1.1")[0]
    parts = a.split()
    assert parts[1] == parts[3]  # one address, one placeholder
    assert step.redact(a)[0] == a  # placeholders are documentation addresses
    assert step.redact("email@example.com")[0] == "email@example.com"


def test_only_public_false_and_switches():
    assert redact("10.0.0.1", only_public_ips=False, ip_replacements=["<IP>"]) == "<IP>"
    assert redact("a@b.com 8.8.8.8", emails=False) != "a@b.com 8.8.8.8"
    assert redact("a@b.com 8.8.8.8", emails=False).startswith("a@b.com ")
    assert redact("a@b.com 8.8.8.8", ip_addresses=False).endswith(" 8.8.8.8")


def test_email_wins_over_ip_overlap():
    ms = find_pii("contact 8.8.8.8@mail.de now")
    assert [m.kind for m in ms] == ["email"]


def test_transform_counts_under_its_label_for_every_record():
    step = PIIRedact(email_replacement="<EMAIL>")
    clean = make_record("1", "nothing to see at 10.0.0.1")
    assert step.transform(clean)["signals"] == {"pii_redact": {"emails": 0, "ips": 0}}
    rec = make_record("2", "mail a@b.com or c@d.org from 8.8.8.8")
    rec = step.transform(rec)
    assert rec["signals"] == {"pii_redact": {"emails": 2, "ips": 1}}
    assert rec["text"].startswith("mail <EMAIL> or <EMAIL> from ")
    assert step.transform({"id": "3", "text": ""})["text"] == ""
    assert step.transform({"id": "4", "text": "x@y.com"})["signals"] == {"pii_redact": {"emails": 1, "ips": 0}}
    assert "signals" not in PIIRedact(keep_signals=False).transform({"id": "5", "text": "x@y.com"})


def test_pii_signals_counts_without_redacting():
    text = "写信给 bianji@people.cn 或 a@b.com，服务器 8.8.8.8。"
    rec = make_record("1", text)
    out = PIISignals().run_batch([rec], StepStats("pii_signals", "tagger"), StepContext())
    assert out[0]["text"] == text
    assert out[0]["signals"]["pii_signals"] == {"emails": 2, "ips": 1}


def test_pickle_keeps_params():
    step = PIIRedact(emails=False, ip_replacements=["<IP>"], ipv6_replacement="<IP6>")
    clone = pickle.loads(pickle.dumps(step))
    assert clone.params == step.params
    assert clone.redact("8.8.8.8 2606:4700::1 a@b.com")[0] == "<IP> <IP6> a@b.com"


def test_is_public_ip():
    assert is_public_ip("8.8.8.8") and is_public_ip("2606:4700::1111")
    assert not is_public_ip("10.1.1.1") and not is_public_ip("::1")
    assert not is_public_ip("not an ip")


def test_bad_replacements_rejected():
    with pytest.raises(TypeError):
        PIIRedact(ip_replacements=[1, 2])


def emails_in(text):
    return [m.text for m in find_pii(text, ip_addresses=False)]


def test_email_edge_cases_from_real_pages():
    assert emails_in('{"dsn":"https:\\u002F\\u002Fab12@sentry.io\\u002F1"}') == ["ab12@sentry.io"]
    assert emails_in("x\\nhome20@gmx.net\\nboni@aon.at") == ["home20@gmx.net", "boni@aon.at"]
    assert emails_in('href="mailto:%20hello@shop.de"') == ["hello@shop.de"]
    assert emails_in('href="tel:+support@coffee.org"') == ["support@coffee.org"]
    assert emails_in("编辑信箱：bianji@banyuetan.org 网站地图fyzw88@126.com") == [
        "bianji@banyuetan.org", "fyzw88@126.com"]
    assert emails_in("Publicidad_Digital@uhora.com.py") == ["Publicidad_Digital@uhora.com.py"]
    assert emails_in("jürgen@müller.de and info@xn--tv-xka.co") == [
        "jürgen@müller.de", "info@xn--tv-xka.co"]
    # fediverse handles, placeholders and special-use names are not personal addresses
    assert emails_in("via @mhoye@mastodon.social") == []
    assert emails_in("you@example.com a@b.example x@y.test lana@site.com.localhost") == []


def test_email_windows_on_long_text():
    filler = "word " * 5000
    text = filler + "a@b.co " + "@" * 3 + " " + "x" * 200 + "@host.org " + filler + \
        "me@" + "sub." * 70 + "example-long.de"
    found = emails_in(text)
    assert found[0] == "a@b.co"
    assert found[-1] == "me@" + "sub." * 70 + "example-long.de"
    assert len(found) == 3 and found[1].endswith("@host.org")


def test_many_ips_in_long_text():
    text = " ".join(f"host{i} 8.8.{i % 250}.{i % 200 + 1}" for i in range(2000))
    assert len(find_pii(text)) == 2000
    assert len(find_pii("12:30:45 " * 3000 + "2606:4700::1111")) == 1
