// The OpenAPI document of the whole HTTP API (src/api/openapi.json, served at
// /openapi.json) validated by a maintained validator from npm: the OpenAPI 3.0
// schema and resolving references (@apidevtools/swagger-parser). The unit
// test OpenApi.* keeps the document equal to the router's routes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';

const documentPath = fileURLToPath(new URL('../../src/api/openapi.json', import.meta.url));

test('the OpenAPI document validates', async () => {
  const doc = JSON.parse(await readFile(documentPath, 'utf8'));
  const api = await SwaggerParser.validate(structuredClone(doc));
  assert.equal(api.openapi, '3.0.3');
  // The OGC API - Features paths a client needs are there.
  for (const path of ['/', '/conformance', '/collections', '/collections/{collectionId}',
    '/collections/{collectionId}/items', '/collections/{collectionId}/items/{featureId}', '/openapi.json']) {
    assert.ok(api.paths[path]?.get, `GET ${path} is documented`);
  }
});

test('a broken document is refused (the validator is not a no-op)', async () => {
  const doc = JSON.parse(await readFile(documentPath, 'utf8'));
  const broken = structuredClone(doc);
  broken.paths['/collections/{collectionId}/items'].get.parameters.push({ name: 'limit', in: 'body' });  // no such location
  await assert.rejects(SwaggerParser.validate(broken));
});
