"""Document the errors every endpoint can answer with, so clients (and the
schema's own checks) know a refused request from a broken one."""

ERRORS = {
    "400": "The request names a field or value that is not accepted.",
    "401": "No valid credentials were given.",
    "403": "The account may not do this.",
    "429": "Too many requests; retry after the time in Retry-After.",
}
ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` for a request-wide error; otherwise each field "
    "with the list of its reasons (`non_field_errors` for the object).",
    "additionalProperties": True,
}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})
    result["components"]["schemas"]["Error"] = ERROR_SCHEMA
    error = {"$ref": "#/components/schemas/Error"}

    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            codes = dict(ERRORS)
            if "{" in path:
                codes["404"] = "No such object."
            if _takes(operation, "page"):
                codes["404"] = "No such page."
            for code, description in codes.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": error}},
                    },
                )
    return result


def _takes(operation, parameter):
    return any(p.get("name") == parameter for p in operation.get("parameters", []))
