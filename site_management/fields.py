"""Model fields that normalise what they store, so forms, the admin and
full_clean() all save one canonical spelling."""

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from site_management.validators import (
    normalize_host,
    normalize_upstream,
    refuse_machine_host,
)


class NormalisingCharField(models.CharField):
    """A CharField whose to_python() normalises and refuses bad values.

    Django's CharField passes every lookup and write through to_python().
    Normalising there lets filter(host="Example.COM") find the row, but a
    value that cannot be normalised must not raise: a lookup for it simply
    finds nothing, and a row stored around validation (raw SQL) can still
    be edited, deleted and recorded in the audit trail. clean() and the
    model's save() refuse such values before they are written.
    """

    def get_prep_value(self, value):
        try:
            return super().get_prep_value(value)
        except ValidationError:
            return str(value)


class HostFormField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        return value if value in self.empty_values else normalize_host(value)


class UpstreamFormField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        return value if value in self.empty_values else normalize_upstream(value)


class HostField(NormalisingCharField):
    default_validators = [refuse_machine_host]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 253)
        super().__init__(*args, **kwargs)

    def formfield(self, **kwargs):
        # Normalising in the form too lets the length limit and the admin's
        # duplicate checks see the stored spelling, not what was typed.
        return super().formfield(**{"form_class": HostFormField, **kwargs})

    def to_python(self, value):
        value = super().to_python(value)
        return value if value in self.empty_values else normalize_host(value)


def refuse_upstream_into_caddy(value):
    # Where Caddy listens comes from the settings, read through the same
    # options the renderer gets; imported late since specs imports the models.
    from site_management.caddy.render import check_upstream_is_not_caddy
    from site_management.caddy.specs import render_options

    check_upstream_is_not_caddy(value, render_options())


class UpstreamField(NormalisingCharField):
    default_validators = [refuse_upstream_into_caddy]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 300)
        super().__init__(*args, **kwargs)

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": UpstreamFormField, **kwargs})

    def to_python(self, value):
        value = super().to_python(value)
        return value if value in self.empty_values else normalize_upstream(value)


class CertificateTextField(models.TextField):
    """PEM certificates; DER bytes given through the ORM are converted."""

    def to_python(self, value):
        from site_management.certificates import certificate_text

        return super().to_python(certificate_text(value))


class PrivateKeyTextField(models.TextField):
    """A PEM private key; DER bytes are converted, an encrypted one kept
    encrypted until the model's check decrypts it with the passphrase."""

    def to_python(self, value):
        from site_management.certificates import key_text

        return super().to_python(key_text(value))
