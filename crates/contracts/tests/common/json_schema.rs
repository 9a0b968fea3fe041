//! A small JSON Schema (2020-12) validator for exactly the keywords schemars emits for our
//! contracts. Any other keyword panics, so a schema it does not understand can never pass by
//! being half-checked. Test-only: it spares the workspace a full validator crate.

use serde_json::{Map, Value};

/// Every violation, as `<json pointer>: <what>`; empty when `instance` is valid.
pub fn validate(schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, instance, "", &mut errors);
    errors
}

fn check(root: &Value, schema: &Value, instance: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => return errors.push(format!("{at}: nothing is allowed here")),
        Value::Object(schema) => schema,
        other => panic!("not a schema: {other}"),
    };
    for (keyword, arg) in schema {
        match keyword.as_str() {
            "$schema" | "$defs" | "title" | "description" | "default" | "examples" => {}
            "$ref" => check(root, resolve(root, arg), instance, at, errors),
            "type" => check_type(arg, instance, at, errors),
            "enum" => {
                if !arg.as_array().unwrap().contains(instance) {
                    errors.push(format!("{at}: {instance} is not one of {arg}"));
                }
            }
            "const" => {
                if arg != instance {
                    errors.push(format!("{at}: {instance} is not {arg}"));
                }
            }
            "format" => check_format(arg.as_str().unwrap(), instance, at, errors),
            "minimum" => {
                if instance.as_f64().is_some_and(|n| n < arg.as_f64().unwrap()) {
                    errors.push(format!("{at}: {instance} is below {arg}"));
                }
            }
            "maximum" => {
                if instance.as_f64().is_some_and(|n| n > arg.as_f64().unwrap()) {
                    errors.push(format!("{at}: {instance} is above {arg}"));
                }
            }
            "required" => {
                if let Value::Object(object) = instance {
                    for name in arg.as_array().unwrap() {
                        if !object.contains_key(name.as_str().unwrap()) {
                            errors.push(format!("{at}: missing required {name}"));
                        }
                    }
                }
            }
            "properties" | "additionalProperties" => {
                if let Value::Object(object) = instance {
                    check_properties(root, schema, keyword, object, at, errors);
                }
            }
            "items" => {
                if let Value::Array(items) = instance {
                    for (i, item) in items.iter().enumerate() {
                        check(root, arg, item, &format!("{at}/{i}"), errors);
                    }
                }
            }
            "oneOf" | "anyOf" => {
                let matching = arg
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|option| {
                        let mut sub = Vec::new();
                        check(root, option, instance, at, &mut sub);
                        sub.is_empty()
                    })
                    .count();
                let ok = if keyword == "oneOf" {
                    matching == 1
                } else {
                    matching >= 1
                };
                if !ok {
                    errors.push(format!("{at}: {matching} alternatives of {keyword} match"));
                }
            }
            other => panic!("keyword `{other}` is not supported by this validator"),
        }
    }
}

fn check_properties(
    root: &Value,
    schema: &Map<String, Value>,
    keyword: &str,
    object: &Map<String, Value>,
    at: &str,
    errors: &mut Vec<String>,
) {
    let declared = schema.get("properties").and_then(Value::as_object);
    for (name, value) in object {
        let here = format!("{at}/{name}");
        match declared.and_then(|d| d.get(name)) {
            Some(sub) if keyword == "properties" => check(root, sub, value, &here, errors),
            Some(_) => {}
            None if keyword == "additionalProperties" => {
                check(root, &schema["additionalProperties"], value, &here, errors)
            }
            None => {}
        }
    }
}

fn resolve<'a>(root: &'a Value, reference: &Value) -> &'a Value {
    let pointer = reference.as_str().unwrap().strip_prefix('#').unwrap();
    root.pointer(pointer)
        .unwrap_or_else(|| panic!("dangling $ref {reference}"))
}

fn check_type(arg: &Value, instance: &Value, at: &str, errors: &mut Vec<String>) {
    let allowed: Vec<&str> = match arg {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().map(|t| t.as_str().unwrap()).collect(),
        other => panic!("bad type {other}"),
    };
    let fits = |t: &str| match t {
        "null" => instance.is_null(),
        "boolean" => instance.is_boolean(),
        "string" => instance.is_string(),
        "number" => instance.is_number(),
        "integer" => instance.is_i64() || instance.is_u64(),
        "array" => instance.is_array(),
        "object" => instance.is_object(),
        other => panic!("unknown type {other}"),
    };
    if !allowed.into_iter().any(fits) {
        errors.push(format!("{at}: {instance} is not of type {arg}"));
    }
}

fn check_format(format: &str, instance: &Value, at: &str, errors: &mut Vec<String>) {
    let fits = match format {
        "int64" => !instance.is_number() || instance.is_i64(),
        "uint16" => !instance.is_number() || instance.as_u64().is_some_and(|n| n <= 65535),
        "uint64" => !instance.is_number() || instance.is_u64(),
        "double" => true,
        other => panic!("format `{other}` is not supported by this validator"),
    };
    if !fits {
        errors.push(format!("{at}: {instance} is not a {format}"));
    }
}
