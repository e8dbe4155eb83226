"""The upload step of the account's options: the server, tested before it is saved."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    CONF_UPLOAD_FOLDER,
    CONF_UPLOAD_HOST,
    CONF_UPLOAD_HOST_KEY,
    CONF_UPLOAD_PASSIVE,
    CONF_UPLOAD_PASSWORD,
    CONF_UPLOAD_PORT,
    CONF_UPLOAD_PRIVATE_KEY,
    CONF_UPLOAD_PROTOCOL,
    CONF_UPLOAD_USERNAME,
    CONF_UPLOAD_VERIFY_SSL,
    DEFAULT_UPLOAD_FOLDER,
    UPLOAD_PROTOCOLS,
)
from .form_numbers import checked_number, range_errors
from .mail.upload_clients import (
    UploadError,
    UploadErrorKind,
    async_check,
    host_key_fingerprint,
)
from .upload import upload_target

UPLOAD_KEYS = (
    CONF_UPLOAD_PROTOCOL, CONF_UPLOAD_HOST, CONF_UPLOAD_PORT, CONF_UPLOAD_USERNAME,
    CONF_UPLOAD_PASSWORD, CONF_UPLOAD_PRIVATE_KEY, CONF_UPLOAD_FOLDER, CONF_UPLOAD_PASSIVE,
    CONF_UPLOAD_VERIFY_SSL,
)  # fmt: skip
# Form errors by failure; the rest is cannot_connect.
_ERRORS = {
    UploadErrorKind.AUTH: "upload_invalid_auth",
    UploadErrorKind.DNS: "dns_failure",
    UploadErrorKind.TIMEOUT: "timeout",
    UploadErrorKind.TLS: "upload_tls",
    UploadErrorKind.HOST_KEY: "upload_host_key",
}
_SECRET = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def _upload_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_UPLOAD_PROTOCOL): SelectSelector(
                SelectSelectorConfig(
                    options=UPLOAD_PROTOCOLS,
                    mode=SelectSelectorMode.DROPDOWN,
                    translation_key=CONF_UPLOAD_PROTOCOL,
                )
            ),
            vol.Optional(CONF_UPLOAD_HOST): TextSelector(),
            vol.Optional(CONF_UPLOAD_PORT): checked_number(1, 65535),
            vol.Optional(CONF_UPLOAD_USERNAME): TextSelector(),
            vol.Optional(CONF_UPLOAD_PASSWORD): _SECRET,
            vol.Optional(CONF_UPLOAD_PRIVATE_KEY): TextSelector(TextSelectorConfig(multiline=True)),
            vol.Required(CONF_UPLOAD_FOLDER): TextSelector(),
            vol.Required(CONF_UPLOAD_PASSIVE): BooleanSelector(),
            vol.Required(CONF_UPLOAD_VERIFY_SSL): BooleanSelector(),
        }
    )


class UploadOptionsStep(OptionsFlow):
    """``async_step_upload``: the last step of the options; ``_options`` holds the others."""

    _options: dict[str, Any]

    async def async_step_upload(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Upload server: off, or tested (and its SFTP key pinned) before it is saved."""
        errors: dict[str, str] = {}
        current = self.config_entry.options
        if user_input is not None:
            errors = range_errors(_upload_schema(), user_input)
            values = {key: user_input[key] for key in UPLOAD_KEYS if key in user_input}
            if values.get(CONF_UPLOAD_PORT) is not None:
                values[CONF_UPLOAD_PORT] = int(values[CONF_UPLOAD_PORT])
            # Saving is accepting the key seen now (the repair for a changed key says so).
            target = upload_target(values)
            if errors:  # a number out of range is said next to its field: nothing is tried
                target = None
            elif values[CONF_UPLOAD_PROTOCOL] != "off" and target is None:
                errors[CONF_UPLOAD_HOST] = "upload_host_required"
            elif target is not None:
                try:
                    seen = await async_check(target)
                except UploadError as err:
                    errors["base"] = _ERRORS.get(err.kind, "cannot_connect")
                else:
                    if seen:  # the first key seen is pinned; shown in the entry's options
                        values[CONF_UPLOAD_HOST_KEY] = seen
            if not errors:
                if target is None:  # off: no upload keys at all
                    values = {}
                return self.async_create_entry(data={**self._options, **values})
        suggested = user_input or {
            CONF_UPLOAD_PROTOCOL: "off",
            CONF_UPLOAD_FOLDER: DEFAULT_UPLOAD_FOLDER,
            CONF_UPLOAD_PASSIVE: True,
            CONF_UPLOAD_VERIFY_SSL: True,
            **{key: current[key] for key in UPLOAD_KEYS if key in current},
        }
        pinned = current.get(CONF_UPLOAD_HOST_KEY)
        return self.async_show_form(
            step_id="upload",
            data_schema=self.add_suggested_values_to_schema(_upload_schema(), suggested),
            description_placeholders={
                "host_key": host_key_fingerprint(pinned) if pinned else "-",
            },
            errors=errors,
        )
