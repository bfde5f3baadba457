"""What an operator may type as a host or an upstream, on every way in.

Every refused input is tried through full_clean(), the ORM (save() calls
full_clean()) and the Django admin's forms, for a new row and for an edit of
a saved one; each must name the reason and write nothing. No Caddy is needed:
the sync a save asks for waits for a commit that these tests never make.
"""

import re

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import F, Value
from django.db.models.functions import Concat, Upper

from site_management.admin import AddressesInline
from site_management.models import Addresses, Site

REQUIRED = "required|cannot be blank"

REFUSED_HOSTS = [
    pytest.param("", REQUIRED, id="empty"),
    pytest.param("[::1]", "IPv6 address", id="ipv6-in-brackets"),
    pytest.param("LocalHost", "this machine", id="localhost"),
    pytest.param("127.0.0.1", "this machine", id="loopback-ipv4"),
    pytest.param("0.0.0.0", "this machine", id="unspecified-ipv4"),
    pytest.param("2001:db8::1", "IPv6 address", id="ipv6"),
    pytest.param("   ", REQUIRED, id="only-spaces"),
    pytest.param("my app.com", "spaces", id="space"),
    pytest.param("a.com/admin", "slashes", id="slash"),
    pytest.param("a.com:80", "a port", id="port"),
    pytest.param("{x}.com", "braces", id="braces"),
    pytest.param("a.{env.SECRET}.com", "braces", id="placeholder"),
    pytest.param("a..com", "empty label", id="double-dot"),
    pytest.param(".a.com", "empty label", id="leading-dot"),
    pytest.param("a" * 64 + ".com", "longer than 63", id="label-64"),
    pytest.param(".".join(["a" * 63] * 4), "the limit is 253", id="total-255"),
    pytest.param("a.*.com", "wildcard", id="wildcard-inside"),
    pytest.param("*a.com", "wildcard", id="wildcard-glued"),
    pytest.param("*.*.com", "wildcard", id="wildcard-twice"),
    pytest.param("*", "wildcard", id="wildcard-alone"),
    pytest.param("my_app.com", "other than a-z, 0-9, -", id="underscore"),
    pytest.param("-a.com", "starts or ends with a hyphen", id="leading-hyphen"),
    pytest.param("a-.com", "starts or ends with a hyphen", id="trailing-hyphen"),
    pytest.param("a\x00b.com", "control characters", id="nul"),
    pytest.param("a\nb.com", "control characters", id="newline"),
    pytest.param("a\x7fb.com", "control characters", id="delete"),
    pytest.param("a\u200db.com", "internationalised", id="idn-joiner"),
    pytest.param("xn--zz.com", "internationalised", id="idn-bad-a-label"),
    pytest.param("1.2.3", "all digits", id="digits-not-ipv4"),
    pytest.param("999.1.1.1", "all digits", id="ipv4-out-of-range"),
    pytest.param("http://a.com", "scheme", id="scheme"),
]

ACCEPTED_HOSTS = [
    pytest.param("MyApp.COM", "myapp.com", id="upper-case"),
    pytest.param("bücher.example", "xn--bcher-kva.example", id="idn"),
    pytest.param("BÜCHER.Example", "xn--bcher-kva.example", id="idn-upper-case"),
    pytest.param("XN--BCHER-KVA.example", "xn--bcher-kva.example", id="a-label"),
    pytest.param("*.example.com", "*.example.com", id="wildcard"),
    pytest.param("example.com.", "example.com", id="trailing-dot"),
    pytest.param("  example.com \t", "example.com", id="surrounding-space"),
    pytest.param("192.0.2.10", "192.0.2.10", id="ipv4"),
    pytest.param("App.LocalHost", "app.localhost", id="below-localhost"),
    pytest.param(
        ".".join(["a" * 63] * 3 + ["b" * 61]) + ".",
        ".".join(["a" * 63] * 3 + ["b" * 61]),
        id="253-chars-and-final-dot",
    ),
]

REFUSED_UPSTREAMS = [
    pytest.param("", REQUIRED, id="empty"),
    pytest.param("backend.local", "host:port", id="no-port"),
    pytest.param("backend.local:0", "outside 1-65535", id="port-0"),
    pytest.param("backend.local:65536", "outside 1-65535", id="port-65536"),
    pytest.param("backend.local:http", "not a number", id="port-name"),
    pytest.param("backend.local:¹", "not a number", id="port-superscript"),
    pytest.param("http://backend.local:80", "without a scheme", id="scheme"),
    pytest.param("::1:8080", "in brackets", id="ipv6-no-brackets"),
    pytest.param("[::1]", r"\[address\]:port", id="ipv6-no-port"),
    pytest.param("[::g]:8080", "not an IPv6 address", id="ipv6-bad"),
    pytest.param("[fe80::1%{env.X}]:80", "zone", id="ipv6-zone-braces"),
    pytest.param("{env.HOST}:80", "braces", id="braces"),
    pytest.param("*.backend.local:80", "wildcard", id="wildcard"),
    pytest.param("back end:80", "spaces", id="space"),
    pytest.param("127.0.0.1:2019", "admin API", id="caddy-admin"),
    pytest.param("Localhost:2019", "admin API", id="caddy-admin-by-name"),
    pytest.param("[::ffff:127.0.0.1]:2019", "admin API", id="caddy-admin-v4-mapped"),
    pytest.param("0.0.0.0:2019", "admin API", id="caddy-admin-any-address"),
    pytest.param("127.0.0.2:80", "would loop", id="caddy-http-port"),
    pytest.param("app.localhost:443", "would loop", id="caddy-https-port"),
]

ACCEPTED_UPSTREAMS = [
    pytest.param("127.0.0.1:8080", "127.0.0.1:8080", id="ipv4"),
    pytest.param("[::1]:8080", "[::1]:8080", id="ipv6"),
    pytest.param("[0:0::1]:81", "[::1]:81", id="ipv6-long-form"),
    pytest.param("10.0.0.5:2019", "10.0.0.5:2019", id="admin-port-elsewhere"),
    pytest.param("[fe80::1%eth0]:80", "[fe80::1%eth0]:80", id="ipv6-zone"),
    pytest.param("Backend.Local:9000", "backend.local:9000", id="upper-case"),
    pytest.param("bücher.example:8080", "xn--bcher-kva.example:8080", id="idn"),
    pytest.param(" 127.0.0.1:8080 ", "127.0.0.1:8080", id="surrounding-space"),
]


@pytest.fixture(autouse=True)
def operations_log_in_tmp(settings, tmp_path):
    settings.CADDY_LOG_DIR = str(tmp_path)


@pytest.fixture
def request_(rf, django_user_model):
    request = rf.get("/admin/")
    # An unsaved superuser has every permission, without a password hash.
    request.user = django_user_model(is_active=True, is_staff=True, is_superuser=True)
    return request


@pytest.fixture
def kept():
    """A saved site with one upstream, which no refusal may touch."""
    site = Site.objects.create(host="kept.example", protocol="http")
    Addresses.objects.create(site=site, ip_address="127.0.0.1:8080")
    return site


def everything():
    sites = list(Site.objects.order_by("pk").values())
    addresses = list(Addresses.objects.order_by("pk").values())
    return sites, addresses


def assert_refused(error_dict, field, fragment):
    messages = " ".join(error_dict.get(field, []))
    assert re.search(fragment, messages), f"{field}: {error_dict}"


def site_form_data(host="new.example", protocol="http", auto_ssl=False):
    data = {"host": host, "protocol": protocol, "status": "active"}
    if auto_ssl:
        data["auto_ssl"] = "on"
    return data


def admin_site_form(request, data, instance=None):
    model_admin = admin.site._registry[Site]
    form_class = model_admin.get_form(request, instance, change=instance is not None)
    return form_class(data=data, instance=instance)


def admin_addresses(request, site, edits=None, added=()):
    """The address rows of the admin's change page for a site, as posted:
    every saved row (some edited) and then the added ones."""
    formset_class = AddressesInline(Site, admin.site).get_formset(request, site)
    prefix = formset_class.get_default_prefix()
    saved = list(site.addresses.order_by("pk"))
    rows = [(a.pk, (edits or {}).get(a.pk, a.ip_address)) for a in saved]
    rows += [("", value) for value in added]
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(len(saved)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, (pk, value) in enumerate(rows):
        data[f"{prefix}-{index}-id"] = str(pk)
        data[f"{prefix}-{index}-site"] = str(site.pk)
        data[f"{prefix}-{index}-ip_address"] = value
    return formset_class(data=data, instance=site, prefix=prefix)


def edit(instance, **values):
    for name, value in values.items():
        setattr(instance, name, value)
    instance.save()


SITE_WRITES = {
    "full_clean": lambda saved, values: Site(**values).full_clean(),
    "orm_create": lambda saved, values: Site.objects.create(**values),
    "orm_edit": lambda saved, values: edit(Site.objects.get(pk=saved.pk), **values),
}
UPSTREAM_WRITES = {
    "full_clean": lambda site, ip: Addresses(site=site, ip_address=ip).full_clean(),
    "orm_create": lambda site, ip: Addresses.objects.create(site=site, ip_address=ip),
    "orm_edit": lambda site, ip: edit(site.addresses.get(), ip_address=ip),
}


def bulk_update(queryset, as_expression, **values):
    """A queryset update(), with literal values or with each value computed
    by the database (an expression the model cannot check beforehand)."""
    if as_expression:
        values = {name: Value(value) for name, value in values.items()}
    return queryset.update(**values)


BULK_PATHS = {"queryset_update": False, "queryset_update_expression": True}
SITE_WRITES.update(
    {
        path: lambda saved, values, computed=computed: bulk_update(
            Site.objects.filter(pk=saved.pk), computed, host=values["host"]
        )
        for path, computed in BULK_PATHS.items()
    }
)
UPSTREAM_WRITES.update(
    {
        path: lambda site, ip, computed=computed: bulk_update(
            site.addresses.all(), computed, ip_address=ip
        )
        for path, computed in BULK_PATHS.items()
    }
)


def refuse_site(path, request, saved, **fields):
    """Write a site through one path, as new or as an edit of `saved`, and
    return the errors by field."""
    values = {"host": "new.example", "protocol": "http", "auto_ssl": False, **fields}
    if path in ("admin_add", "admin_change"):
        instance = saved if path == "admin_change" else None
        form = admin_site_form(request, site_form_data(**values), instance)
        assert not form.is_valid()
        return form.errors

    with pytest.raises(ValidationError) as caught:
        SITE_WRITES[path](saved, values)
    return caught.value.message_dict


def refuse_upstream(path, request, site, value):
    """Write an upstream for a site with one saved upstream, as a new one or
    as an edit of the saved one, and return the errors by field."""
    if path == "admin_inline_add":
        formset = admin_addresses(request, site, added=[value])
        assert not formset.is_valid()
        return formset.errors[-1]
    if path == "admin_inline_edit":
        edits = {site.addresses.get().pk: value}
        formset = admin_addresses(request, site, edits=edits)
        assert not formset.is_valid()
        return formset.errors[0]

    with pytest.raises(ValidationError) as caught:
        UPSTREAM_WRITES[path](site, value)
    return caught.value.message_dict


SITE_PATHS = ["full_clean", "orm_create", "orm_edit", "admin_add", "admin_change"]
UPSTREAM_PATHS = [
    "full_clean",
    "orm_create",
    "orm_edit",
    "admin_inline_add",
    "admin_inline_edit",
    *BULK_PATHS,
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", [*SITE_PATHS, *BULK_PATHS])
@pytest.mark.parametrize(("host", "reason"), REFUSED_HOSTS)
def test_a_bad_host_is_refused_with_its_reason_and_nothing_is_written(
    path, host, reason, kept, request_
):
    before = everything()
    if path == "queryset_update_expression":
        # PostgreSQL's column type may refuse a computed value (too long, a
        # NUL) before the model's check sees it; either reason is fine.
        reason = f"{reason}|database refused"

    errors = refuse_site(path, request_, kept, host=host)

    assert_refused(errors, "host", reason)
    assert everything() == before


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["full_clean", "orm_create", "admin_add"])
@pytest.mark.parametrize(("typed", "stored"), ACCEPTED_HOSTS)
def test_an_accepted_host_is_stored_in_its_normal_form(path, typed, stored, request_):
    if path == "full_clean":
        site = Site(host=typed)
        site.full_clean()
        assert site.host == stored
        return
    if path == "orm_create":
        site = Site.objects.create(host=typed)
    else:
        form = admin_site_form(request_, site_form_data(host=typed))
        assert form.is_valid(), form.errors
        site = form.save()

    assert Site.objects.get(pk=site.pk).host == stored


@pytest.mark.django_db
def test_editing_a_host_stores_the_new_name_in_its_normal_form(kept, request_):
    form = admin_site_form(request_, site_form_data(host=" Bücher.Example. "), kept)
    assert form.is_valid(), form.errors
    form.save()

    assert Site.objects.get(pk=kept.pk).host == "xn--bcher-kva.example"
    assert Site.objects.count() == 1


# A blank added row is ignored by the admin rather than refused; see below.
REFUSED_UPSTREAMS_BY_PATH = [
    pytest.param(path, *case.values, id=f"{case.id}-{path}")
    for case in REFUSED_UPSTREAMS
    for path in UPSTREAM_PATHS
    if not (path == "admin_inline_add" and case.values[0] == "")
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "value", "reason"), REFUSED_UPSTREAMS_BY_PATH)
def test_a_bad_upstream_is_refused_with_its_reason_and_nothing_is_written(
    path, value, reason, kept, request_
):
    before = everything()

    errors = refuse_upstream(path, request_, kept, value)

    assert_refused(errors, "ip_address", reason)
    assert everything() == before


@pytest.mark.django_db
def test_a_blank_added_address_row_in_the_admin_is_ignored(kept, request_):
    before = everything()

    formset = admin_addresses(request_, kept, added=[""])
    assert formset.is_valid(), formset.errors
    formset.save()

    assert everything() == before


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["full_clean", "orm_create", "admin_inline_add"])
@pytest.mark.parametrize(("typed", "stored"), ACCEPTED_UPSTREAMS)
def test_an_accepted_upstream_is_stored_in_its_normal_form(
    path, typed, stored, request_
):
    site = Site.objects.create(host="app.example")
    if path == "full_clean":
        address = Addresses(site=site, ip_address=typed)
        address.full_clean()
        assert address.ip_address == stored
        return
    if path == "orm_create":
        Addresses.objects.create(site=site, ip_address=typed)
    else:
        formset = admin_addresses(request_, site, added=[typed])
        assert formset.is_valid(), formset.errors
        formset.save()

    assert list(site.addresses.values_list("ip_address", flat=True)) == [stored]


@pytest.mark.django_db
@pytest.mark.parametrize("path", [*SITE_PATHS, *BULK_PATHS])
@pytest.mark.parametrize(
    "host",
    ["kept.example", "KEPT.Example", "kept.example.", " kept.example "],
    ids=["same", "other-case", "final-dot", "spaces"],
)
def test_a_second_site_with_the_same_host_is_refused_and_nothing_is_written(
    path, host, kept, request_
):
    other = Site.objects.create(host="other.example")
    before = everything()
    site = other if path in ("orm_edit", "admin_change", *BULK_PATHS) else kept

    errors = refuse_site(path, request_, site, host=host)

    assert_refused(errors, "host", "already exists")
    assert everything() == before


@pytest.mark.django_db
@pytest.mark.parametrize("path", SITE_PATHS)
def test_an_idn_host_clashes_with_its_ascii_spelling(path, request_):
    saved = Site.objects.create(host="xn--bcher-kva.example")
    other = Site.objects.create(host="other.example")
    before = everything()
    site = other if path in ("orm_edit", "admin_change") else saved

    errors = refuse_site(path, request_, site, host="Bücher.example")

    assert_refused(errors, "host", "already exists")
    assert everything() == before


@pytest.mark.django_db
def test_a_host_computed_from_the_stored_one_is_checked_after_the_update(kept):
    Site.objects.create(host="other.example")
    before = everything()

    with pytest.raises(ValidationError) as refused:
        Site.objects.update(host=Concat(F("host"), Value(" x")))

    assert_refused(refused.value.message_dict, "host", "spaces")
    assert everything() == before


@pytest.mark.django_db
def test_a_computed_host_in_another_spelling_is_stored_in_its_normal_form(kept):
    assert Site.objects.filter(pk=kept.pk).update(host=Upper(F("host"))) == 1

    assert Site.objects.get(pk=kept.pk).host == "kept.example"


@pytest.mark.django_db
def test_bulk_update_of_a_row_built_by_its_pk_names_only_the_bad_field(kept):
    before = everything()
    built = Site(pk=kept.pk, host="kept.example", protocol="gopher")

    with pytest.raises(ValidationError) as refused:
        Site.objects.bulk_update([built], ["protocol"])

    assert list(refused.value.message_dict) == ["protocol"]
    assert everything() == before


@pytest.mark.django_db
def test_a_queryset_update_may_name_a_related_row_by_its_instance(kept):
    other = Site.objects.create(host="other.example")

    assert kept.addresses.update(site=other) == 1

    assert other.addresses.get().ip_address == "127.0.0.1:8080"


@pytest.mark.django_db
def test_two_addresses_updated_to_one_value_are_refused_on_the_field(kept):
    Addresses.objects.create(site=kept, ip_address="127.0.0.1:9090")
    before = everything()

    with pytest.raises(ValidationError) as refused:
        kept.addresses.update(ip_address="127.0.0.1:7070")

    assert_refused(refused.value.message_dict, "ip_address", "already has that")
    assert everything() == before


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["full_clean", "orm_create"])
@pytest.mark.parametrize(
    "value", ["127.0.0.1:8080", "127.0.0.1:08080", " 127.0.0.1:8080"]
)
def test_a_second_identical_address_on_one_site_is_refused(path, value, kept):
    before = everything()

    with pytest.raises(ValidationError) as caught:
        UPSTREAM_WRITES[path](kept, value)

    assert "already has that upstream" in " ".join(caught.value.messages)
    assert everything() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "added",
    [["127.0.0.1:8080"], ["127.0.0.1:08080"], ["B.local:80", "b.local:80"]],
    ids=["same", "other-spelling", "two-new-rows"],
)
def test_a_duplicate_address_row_in_the_admin_is_refused(added, kept, request_):
    before = everything()

    formset = admin_addresses(request_, kept, added=added)

    assert not formset.is_valid()
    assert "duplicate data for ip_address" in " ".join(formset.non_form_errors())
    assert everything() == before


@pytest.mark.django_db
def test_the_same_address_on_another_site_is_accepted(kept):
    other = Site.objects.create(host="other.example")

    Addresses.objects.create(site=other, ip_address="127.0.0.1:8080")

    assert Addresses.objects.filter(ip_address="127.0.0.1:8080").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("path", SITE_PATHS)
def test_https_without_auto_ssl_is_refused_naming_the_auto_ssl_field(
    path, kept, request_
):
    host = "kept.example" if path in ("orm_edit", "admin_change") else "new.example"
    before = everything()

    errors = refuse_site(path, request_, kept, host=host, protocol="https")

    assert_refused(errors, "auto_ssl", "auto_ssl")
    assert everything() == before


@pytest.mark.django_db
def test_a_queryset_update_to_https_without_auto_ssl_is_refused(kept):
    before = everything()

    with pytest.raises(ValidationError) as refused:
        Site.objects.filter(pk=kept.pk).update(protocol="https")

    assert_refused(refused.value.message_dict, "auto_ssl", "auto_ssl")
    assert everything() == before
    assert Site.objects.filter(pk=kept.pk).update(protocol="https", auto_ssl=True)


@pytest.mark.django_db
def test_https_with_auto_ssl_is_accepted(request_):
    form = admin_site_form(
        request_, site_form_data(host="secure.example", protocol="https", auto_ssl=True)
    )
    assert form.is_valid(), form.errors

    site = form.save()
    assert (site.protocol, site.auto_ssl) == ("https", True)


@pytest.mark.django_db
def test_a_wildcard_https_site_with_acme_is_refused_on_auto_ssl(settings, kept):
    settings.CADDY_TLS_ISSUER = "acme"
    before = everything()

    with pytest.raises(ValidationError) as refused:
        Site.objects.create(host="*.wild.example", protocol="https", auto_ssl=True)

    assert_refused(refused.value.message_dict, "auto_ssl", "DNS challenge")
    assert everything() == before


@pytest.mark.django_db
def test_a_wildcard_https_site_with_the_internal_issuer_is_accepted(settings):
    settings.CADDY_TLS_ISSUER = "internal"

    site = Site.objects.create(host="*.wild.example", protocol="https", auto_ssl=True)

    assert site.host == "*.wild.example"
