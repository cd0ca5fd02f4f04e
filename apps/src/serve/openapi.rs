//! The OpenAPI 3 document at `/openapi.json`, built from the models served: each model's
//! predict endpoint gets its own path with exactly the bodies its app takes, and every
//! response the handlers can give is listed.

use serde_json::{Value, json};

use super::api::{DEFAULT_TOP, MAX_INPUTS, MAX_TOP, ModelInfo};
use crate::preprocessing::InputKind;

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn json_response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
    })
}

/// The request bodies a model's predict endpoint takes.
fn request_body(model: &ModelInfo) -> Value {
    let files = |media: &[&str], what: &str| {
        let mut content = serde_json::Map::new();
        for media in media {
            content.insert(
                media.to_string(),
                json!({ "schema": { "type": "string", "format": "binary" } }),
            );
        }
        content.insert(
            "multipart/form-data".into(),
            json!({
                "schema": {
                    "type": "object",
                    "description": format!("one or more {what}, each part one file"),
                    "minProperties": 1,
                    "maxProperties": MAX_INPUTS,
                    "additionalProperties": { "type": "string", "format": "binary" }
                }
            }),
        );
        json!({
            "required": true,
            "description": format!("{what}: the body itself, or multipart/form-data parts"),
            "content": content
        })
    };
    match model.input {
        InputKind::Image => files(
            &["image/png", "image/jpeg", "application/octet-stream"],
            "PNG or JPEG images",
        ),
        InputKind::Wav => files(&["audio/wav", "application/octet-stream"], "WAV files"),
        InputKind::Text => json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Texts" } } }
        }),
        InputKind::Row => json!({
            "required": true,
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["rows"],
                "additionalProperties": false,
                "properties": { "rows": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_INPUTS,
                    "description": "one row of feature values per input",
                    "items": {
                        "type": "array",
                        "minItems": model.n_inputs,
                        "maxItems": model.n_inputs,
                        "items": {
                            "type": "number",
                            "minimum": model.value_range.map_or(f64::MIN, |r| r.0),
                            "maximum": model.value_range.map_or(f64::MAX, |r| r.1)
                        }
                    }
                } }
            } } }
        }),
    }
}

fn predict_operation(model: &ModelInfo, secured: bool) -> Value {
    let mut responses = json!({
        "200": json_response("the predictions, one per input, in order", "Predictions"),
        "400": error_response("an input that cannot be read: malformed JSON, a corrupt image, a file that is not a WAV, the wrong number of features, no inputs, or too many"),
        "404": error_response("no such model"),
        "408": error_response("no response within the server's time limit (reading the body included)"),
        "413": error_response("the body is over the server's size limit"),
        "500": error_response("the forward pass failed"),
        "503": error_response("the model's queue is full, or the server is stopping"),
    });
    if secured {
        responses["401"] = error_response("no token, or the wrong one");
    }
    let classes = if model.classes.is_empty() {
        "regression values".to_string()
    } else {
        format!(
            "the most probable of its classes ({})",
            model.classes.join(", ")
        )
    };
    json!({
        "summary": format!("Predict with `{}` ({} {} of {})", model.name, model.app, model.model, match model.input {
            InputKind::Image => "images",
            InputKind::Text => "texts",
            InputKind::Wav => "WAV files",
            InputKind::Row => "rows of numbers",
        }),
        "description": format!("Returns {classes} for each input."),
        "operationId": format!("predict_{}", model.name.replace(['.', '-'], "_")),
        // Tagged by what the endpoint takes: a schema can say "binary" but not "a PNG", so a
        // schema-driven fuzzer's random bytes are rightly refused by the `image` and `wav` ones.
        "tags": [serde_json::to_value(model.input).expect("an enum of names")],
        "parameters": [{
            "name": "top",
            "in": "query",
            "required": false,
            "description": "classes listed per input, most probable first",
            "schema": { "type": "integer", "minimum": 1, "maximum": MAX_TOP, "default": DEFAULT_TOP }
        }],
        "requestBody": request_body(model),
        "responses": responses
    })
}

/// The KServe v2 `infer` operation of `model`: the protocol's JSON tensors (the binary
/// extension's bodies are not JSON, and are left out).
fn infer_operation(model: &ModelInfo, secured: bool) -> Value {
    let (input, datatype, element) = match model.input {
        InputKind::Row => ("input", "FP32", json!({ "type": "number" })),
        InputKind::Text => ("text", "BYTES", json!({ "type": "string" })),
        InputKind::Image => ("image", "BYTES", json!({ "type": "string" })),
        InputKind::Wav => ("audio", "BYTES", json!({ "type": "string" })),
    };
    let mut responses = json!({
        "200": {
            "description": "the outputs (in JSON; after the JSON part, with the binary extension)",
            "content": {
                "application/json": { "schema": { "$ref": "#/components/schemas/InferResponse" } },
                "application/octet-stream": { "schema": { "type": "string", "format": "binary" } }
            }
        },
        "400": error_response("a request the protocol or the model does not take: another input, datatype or shape, data that does not fill the shape, an input that cannot be read, an unknown output, a malformed binary part"),
        "404": error_response("no such model or version"),
        "408": error_response("no response within the server's time limit (reading the body included)"),
        "413": error_response("the body is over the server's size limit"),
        "500": error_response("the forward pass failed"),
        "503": error_response("the model's queue is full, or the server is stopping"),
    });
    if secured {
        responses["401"] = error_response("no token, or the wrong one");
    }
    json!({
        "summary": format!("KServe v2 inference with `{}`", model.name),
        "operationId": format!("infer_{}", model.name.replace(['.', '-'], "_")),
        "tags": ["kserve-v2"],
        "requestBody": { "required": true, "content": { "application/json": { "schema": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": { "type": "string" },
                "parameters": { "type": "object" },
                "inputs": { "type": "array", "minItems": 1, "maxItems": 1, "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": { "type": "string", "enum": [input] },
                        "shape": { "type": "array", "items": { "type": "integer", "minimum": 0, "maximum": MAX_INPUTS } },
                        "datatype": { "type": "string", "enum": [datatype] },
                        "data": { "type": "array", "items": element }
                    }
                } },
                "outputs": { "type": "array", "items": {
                    "type": "object", "required": ["name"],
                    "properties": { "name": { "type": "string" }, "parameters": { "type": "object" } }
                } }
            }
        } } } },
        "responses": responses
    })
}

/// The document for `models`; `secured`: the `/v1/` endpoints need a bearer token.
pub fn document(models: &[&ModelInfo], secured: bool) -> Value {
    let unauthorized = |mut responses: Value| {
        if secured {
            responses["401"] = error_response("no token, or the wrong one");
        }
        responses
    };
    let mut paths = json!({
        "/": { "get": {
            "summary": "The page to try the models in a browser",
            "operationId": "page",
            "responses": { "200": { "description": "the page", "content": { "text/html": { "schema": { "type": "string" } } } } }
        } },
        "/healthz": { "get": {
            "summary": "Whether the server is up",
            "operationId": "health",
            "responses": { "200": {
                "description": "it is",
                "content": { "application/json": { "schema": {
                    "type": "object", "required": ["status"],
                    "properties": { "status": { "type": "string", "enum": ["ok"] } }
                } } }
            } }
        } },
        "/openapi.json": { "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": { "200": { "description": "the OpenAPI document", "content": { "application/json": { "schema": { "type": "object" } } } } }
        } },
        "/v1/models": { "get": {
            "summary": "The models served",
            "operationId": "list_models",
            "responses": unauthorized(json!({ "200": json_response("every model", "ModelList") }))
        } },
        "/v1/models/{name}": {
            "get": {
                "summary": "One model",
                "operationId": "model_info",
                "parameters": [{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": unauthorized(json!({
                    "200": json_response("the model", "Model"),
                    "404": error_response("no such model")
                }))
            },
            "post": {
                "summary": "KServe v1 / TensorFlow Serving's predict, with `name` as MODEL:predict",
                "operationId": "tf_serving_predict",
                "tags": ["tf-serving"],
                "parameters": [{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" }, "description": "the model's name followed by `:predict`" }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["instances"],
                    "properties": {
                        "instances": { "type": "array", "minItems": 1, "maxItems": MAX_INPUTS, "description": "rows of numbers, texts, or files as {\"b64\": \"...\"}" },
                        "signature_name": { "type": "string" }
                    }
                } } } },
                "responses": unauthorized(json!({
                    "200": { "description": "a prediction per instance", "content": { "application/json": { "schema": {
                        "type": "object", "required": ["predictions"],
                        "properties": { "predictions": { "type": "array" } }
                    } } } },
                    "400": error_response("instances the model does not take"),
                    "404": error_response("no such model"),
                    "405": error_response("the name does not end in `:predict`: this path takes GET"),
                    "408": error_response("no response within the server's time limit (reading the body included)"),
                    "413": error_response("the body is over the server's size limit"),
                    "500": error_response("the forward pass failed"),
                    "503": error_response("the model's queue is full, or the server is stopping")
                }))
            }
        }
    });
    for model in models {
        paths[format!("/v1/models/{}/predict", model.name)] =
            json!({ "post": predict_operation(model, secured) });
        paths[format!("/v2/models/{}/infer", model.name)] =
            json!({ "post": infer_operation(model, secured) });
    }
    let boolean = |name: &str| json!({ "type": "object", "required": [name], "properties": { name: { "type": "boolean" } } });
    paths["/v2"] = json!({ "get": {
        "summary": "KServe v2 server metadata",
        "operationId": "server_metadata",
        "responses": { "200": { "description": "the server's name, version and extensions", "content": { "application/json": { "schema": {
            "type": "object", "required": ["name", "version", "extensions"],
            "properties": {
                "name": { "type": "string" }, "version": { "type": "string" },
                "extensions": { "type": "array", "items": { "type": "string" } }
            }
        } } } } }
    } });
    paths["/v2/health/live"] = json!({ "get": {
        "summary": "KServe v2 liveness",
        "operationId": "server_live",
        "responses": { "200": { "description": "live", "content": { "application/json": { "schema": boolean("live") } } } }
    } });
    paths["/v2/health/ready"] = json!({ "get": {
        "summary": "KServe v2 readiness",
        "operationId": "server_ready",
        "responses": { "200": { "description": "ready", "content": { "application/json": { "schema": boolean("ready") } } } }
    } });
    paths["/v2/models/{name}"] = json!({ "get": {
        "summary": "KServe v2 model metadata: its input and output tensors",
        "operationId": "model_metadata",
        "parameters": [{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } }],
        "responses": unauthorized(json!({
            "200": json_response("the model's tensors", "ModelMetadata"),
            "404": error_response("no such model")
        }))
    } });
    paths["/v2/models/{name}/ready"] = json!({ "get": {
        "summary": "KServe v2 model readiness",
        "operationId": "model_ready",
        "parameters": [{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } }],
        "responses": unauthorized(json!({
            "200": { "description": "ready", "content": { "application/json": { "schema": boolean("ready") } } },
            "404": error_response("no such model")
        }))
    } });
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "zoo-serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "burn-zoo's saved models over HTTP. Errors are JSON objects with an `error` message."
        },
        "paths": paths,
        "components": { "schemas": {
            "Error": {
                "type": "object", "required": ["error"],
                "properties": { "error": { "type": "string" } }
            },
            "Texts": {
                "type": "object", "required": ["texts"], "additionalProperties": false,
                "properties": { "texts": {
                    "type": "array", "minItems": 1, "maxItems": MAX_INPUTS,
                    "items": { "type": "string" }
                } }
            },
            "Model": {
                "type": "object",
                "required": ["name", "app", "input", "task", "classes", "model", "n_inputs"],
                "properties": {
                    "name": { "type": "string" },
                    "app": { "type": "string", "enum": ["image-classifier", "text-classifier", "audio-classifier", "tabular"] },
                    "input": { "type": "string", "enum": ["image", "text", "wav", "row"] },
                    "task": { "type": "string", "enum": ["multiclass", "binary", "regression"] },
                    "classes": { "type": "array", "items": { "type": "string" } },
                    "model": { "type": "string", "enum": ["linear", "logistic", "mlp", "cnn"] },
                    "n_inputs": { "type": "integer" },
                    "served": {
                        "type": "object",
                        "description": "what the model's worker has done since the server started (GET /v1/models/{name} only)",
                        "required": ["requests", "inputs", "forward_passes", "padding_inputs", "largest_batch"],
                        "properties": {
                            "requests": { "type": "integer" },
                            "inputs": { "type": "integer" },
                            "forward_passes": { "type": "integer" },
                            "padding_inputs": { "type": "integer", "description": "copies of inputs added to pad batches to powers of two (wgpu)" },
                            "largest_batch": { "type": "integer", "description": "the most requested inputs one forward pass took, padding aside" }
                        }
                    },
                    "value_range": {
                        "type": "array", "minItems": 2, "maxItems": 2, "items": { "type": "number" },
                        "description": "the smallest and largest feature value the model takes (row models only)"
                    },
                    "image": {
                        "type": "object", "required": ["color", "height", "width"],
                        "properties": {
                            "color": { "type": "string", "enum": ["gray", "rgb"] },
                            "height": { "type": "integer" },
                            "width": { "type": "integer" }
                        }
                    }
                }
            },
            "ModelMetadata": {
                "type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"],
                "properties": {
                    "name": { "type": "string" },
                    "versions": { "type": "array", "items": { "type": "string" } },
                    "platform": { "type": "string" },
                    "inputs": { "type": "array", "items": { "$ref": "#/components/schemas/TensorMetadata" } },
                    "outputs": { "type": "array", "items": { "$ref": "#/components/schemas/TensorMetadata" } }
                }
            },
            "TensorMetadata": {
                "type": "object", "required": ["name", "datatype", "shape"],
                "properties": {
                    "name": { "type": "string" },
                    "datatype": { "type": "string", "enum": ["FP32", "BYTES"] },
                    "shape": { "type": "array", "items": { "type": "integer" } }
                }
            },
            "InferResponse": {
                "type": "object", "required": ["model_name", "outputs"],
                "properties": {
                    "model_name": { "type": "string" },
                    "model_version": { "type": "string" },
                    "id": { "type": "string" },
                    "outputs": { "type": "array", "items": {
                        "type": "object", "required": ["name", "datatype", "shape"],
                        "properties": {
                            "name": { "type": "string" },
                            "datatype": { "type": "string", "enum": ["FP32", "BYTES"] },
                            "shape": { "type": "array", "items": { "type": "integer" } },
                            "data": { "type": "array" },
                            "parameters": { "type": "object" }
                        }
                    } }
                }
            },
            "ModelList": {
                "type": "object", "required": ["models"],
                "properties": { "models": { "type": "array", "items": { "$ref": "#/components/schemas/Model" } } }
            },
            "Predictions": {
                "type": "object", "required": ["model", "predictions"],
                "properties": {
                    "model": { "type": "string" },
                    "predictions": { "type": "array", "items": {
                        "type": "object", "required": ["input"],
                        "properties": {
                            "input": { "type": "string", "description": "the file's name, `body`, `texts[i]` or `rows[i]`" },
                            "top": { "type": "array", "items": {
                                "type": "object", "required": ["class", "probability"],
                                "properties": {
                                    "class": { "type": "string" },
                                    "probability": { "type": "number", "minimum": 0, "maximum": 1 }
                                }
                            } },
                            "values": { "type": "array", "items": { "type": "number" } }
                        }
                    } }
                }
            }
        } }
    });
    if secured {
        document["components"]["securitySchemes"] =
            json!({ "bearer": { "type": "http", "scheme": "bearer" } });
        for path in [
            "/v1/models",
            "/v1/models/{name}",
            "/v2/models/{name}",
            "/v2/models/{name}/ready",
        ] {
            document["paths"][path]["get"]["security"] = json!([{ "bearer": [] }]);
        }
        document["paths"]["/v1/models/{name}"]["post"]["security"] = json!([{ "bearer": [] }]);
        for model in models {
            for path in [
                format!("/v1/models/{}/predict", model.name),
                format!("/v2/models/{}/infer", model.name),
            ] {
                document["paths"][path]["post"]["security"] = json!([{ "bearer": [] }]);
            }
        }
    }
    document
}
