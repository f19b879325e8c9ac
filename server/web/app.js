// persam serve's page: plain JS over the JSON API (docs/serve.md).
'use strict';

const $ = (id) => document.getElementById(id);
const MASK_RGBA = [30, 144, 255, 150];

// ---- API --------------------------------------------------------------
async function api(path, options = {}) {
  const res = await fetch(path, options);
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body;
}

function postJson(path, value) {
  return api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(value) });
}

// Uploads a File; resolves with the image record once its embedding is ready.
async function uploadImage(file, onStatus) {
  const image = await api('/api/images', {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: file,
  });
  const start = performance.now();
  let status = image;
  while (status.status === 'queued' || status.status === 'encoding') {
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    onStatus(status.status === 'queued' ? `queued (position ${status.queue_position}), ${seconds} s`
                                        : `computing the image embedding... ${seconds} s`);
    await new Promise((r) => setTimeout(r, 250));
    status = await api(`/api/images/${image.id}`);
  }
  if (status.status !== 'ready') throw new Error(status.error || 'encoding failed');
  return status;
}

function loadBitmap(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('cannot display the image in this browser'));
    img.src = src;
  });
}

// 0/1 per pixel from a base64 mask PNG.
async function decodeMaskPng(base64, width, height) {
  const img = await loadBitmap('data:image/png;base64,' + base64);
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, width, height).data;
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; ++i) mask[i] = data[4 * i] > 127 ? 1 : 0;
  return mask;
}

function paintMask(canvas, mask, width, height) {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  const out = ctx.createImageData(width, height);
  for (let i = 0; i < mask.length; ++i) {
    if (!mask[i]) continue;
    out.data.set(MASK_RGBA, 4 * i);
  }
  ctx.putImageData(out, 0, 0);
}

function drawPoint(ctx, x, y, positive, radius) {
  ctx.beginPath();
  ctx.arc(x, y, radius, 0, 2 * Math.PI);
  ctx.fillStyle = positive ? '#22c55e' : '#ef4444';
  ctx.fill();
  ctx.lineWidth = Math.max(1, radius / 3);
  ctx.strokeStyle = '#fff';
  ctx.stroke();
}

function downloadBlob(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// ---- Tabs -------------------------------------------------------------
for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => {
    for (const t of document.querySelectorAll('.tab')) t.classList.toggle('active', t === tab);
    for (const p of document.querySelectorAll('.panel')) p.classList.toggle('active', p.id === tab.dataset.tab);
  });
}
api('/api/info').then((info) => { $('model-info').textContent = info.model; }).catch(() => {});

// ---- Segment ----------------------------------------------------------
// Exposed for the browser test (tests/server/browser_test.py).
const seg = window.persamSegment = {
  image: null,       // {id, width, height}
  prompts: [],       // [{type: 'point', x, y, label} | {type: 'box', box: [x0, y0, x1, y1]}]
  result: null,      // last predict response
  chosen: 0,
  masks: [],         // decoded 0/1 masks of the last result
  busy: false,
  pending: false,
  lastLatencyMs: null,
  predictions: 0,
};

function segStatus(text) { $('seg-status').textContent = text; }

function stageCoords(event) {
  const canvas = $('prompt-canvas');
  const rect = canvas.getBoundingClientRect();
  const x = (event.clientX - rect.left) * canvas.width / rect.width;
  const y = (event.clientY - rect.top) * canvas.height / rect.height;
  return [Math.min(Math.max(x, 0), canvas.width - 0.5), Math.min(Math.max(y, 0), canvas.height - 0.5)];
}

function drawPrompts(dragBox) {
  const canvas = $('prompt-canvas');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const radius = Math.max(4, Math.min(canvas.width, canvas.height) / 100);
  const boxes = seg.prompts.filter((p) => p.type === 'box').map((p) => p.box);
  if (dragBox) boxes.push(dragBox);
  ctx.lineWidth = Math.max(2, radius / 2);
  ctx.strokeStyle = '#1e90ff';
  for (const b of boxes) ctx.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
  for (const p of seg.prompts) if (p.type === 'point') drawPoint(ctx, p.x, p.y, p.label === 1, radius);
}

function promptRequest() {
  const points = seg.prompts.filter((p) => p.type === 'point').map((p) => ({ x: p.x, y: p.y, label: p.label }));
  const boxes = seg.prompts.filter((p) => p.type === 'box');
  const request = { points };
  if (boxes.length) request.box = boxes[boxes.length - 1].box;
  // One point alone is ambiguous: ask for SAM's three candidates (as SAM's demo).
  request.multimask = points.length === 1 && !boxes.length;
  return request;
}

function updateButtons() {
  const has = seg.prompts.length > 0;
  $('seg-undo').disabled = !has;
  $('seg-clear').disabled = !has;
  $('seg-dl-prompts').disabled = !has;
  const r = seg.result;
  for (const [id, kind] of [['seg-dl-mask', 'masks'], ['seg-dl-cutout', 'cutouts']]) {
    const a = $(id);
    a.classList.toggle('disabled', !r);
    if (r) a.href = `/api/results/${r.result}/${kind}/${seg.chosen}.png`;
  }
}

function showChosen() {
  const r = seg.result;
  const mask = $('mask-canvas');
  if (!r) {
    mask.getContext('2d').clearRect(0, 0, mask.width, mask.height);
  } else {
    paintMask(mask, seg.masks[seg.chosen], r.width, r.height);
  }
  const list = $('seg-candidates');
  list.textContent = '';
  if (r) {
    r.scores.forEach((score, k) => {
      const li = document.createElement('li');
      li.textContent = `score ${score.toFixed(3)}`;
      li.className = k === seg.chosen ? 'chosen' : '';
      li.addEventListener('click', () => { seg.chosen = k; showChosen(); });
      list.appendChild(li);
    });
  }
  updateButtons();
}

// One predict at a time; a click during one re-runs with the newest prompts.
async function predict() {
  if (seg.busy) { seg.pending = true; return; }
  if (!seg.prompts.length) { seg.result = null; seg.masks = []; showChosen(); return; }
  seg.busy = true;
  try {
    const start = performance.now();
    const r = await postJson(`/api/images/${seg.image.id}/predict`, promptRequest());
    const masks = await Promise.all(r.masks.map((m) => decodeMaskPng(m, r.width, r.height)));
    seg.result = r;
    seg.masks = masks;
    let best = 0;
    r.scores.forEach((s, k) => { if (s > r.scores[best]) best = k; });
    seg.chosen = best;
    showChosen();
    seg.lastLatencyMs = performance.now() - start;
    seg.predictions += 1;
    $('seg-latency').textContent =
        `click to mask: ${seg.lastLatencyMs.toFixed(0)} ms (decoder ${r.timings_ms.decoder.toFixed(0)} ms)`;
  } catch (e) {
    segStatus('error: ' + e.message);
  } finally {
    seg.busy = false;
  }
  if (seg.pending) { seg.pending = false; predict(); }
}

async function openImage(file) {
  if (!file) return;
  seg.image = null;
  seg.prompts = [];
  seg.result = null;
  seg.masks = [];
  updateButtons();
  try {
    const url = URL.createObjectURL(file);
    const bitmap = await loadBitmap(url);
    segStatus('uploading...');
    const image = await uploadImage(file, segStatus);
    for (const id of ['image-canvas', 'mask-canvas', 'prompt-canvas']) {
      $(id).width = image.width;
      $(id).height = image.height;
    }
    // The server applies EXIF orientation; draw at its size.
    $('image-canvas').getContext('2d').drawImage(bitmap, 0, 0, image.width, image.height);
    URL.revokeObjectURL(url);
    $('seg-stage').classList.add('has-image');
    seg.image = image;
    seg.file = file;
    showChosen();
    drawPrompts();
    segStatus(`${file.name}: ${image.width} x ${image.height}, ready. Click the object.`);
  } catch (e) {
    segStatus('error: ' + e.message);
  }
}

$('seg-file').addEventListener('change', (e) => openImage(e.target.files[0]));
const stage = $('seg-stage');
stage.addEventListener('dragover', (e) => { e.preventDefault(); stage.classList.add('dragover'); });
stage.addEventListener('dragleave', () => stage.classList.remove('dragover'));
stage.addEventListener('drop', (e) => {
  e.preventDefault();
  stage.classList.remove('dragover');
  openImage(e.dataTransfer.files[0]);
});

let drag = null;
const promptCanvas = $('prompt-canvas');
promptCanvas.addEventListener('contextmenu', (e) => e.preventDefault());
promptCanvas.addEventListener('mousedown', (e) => {
  if (!seg.image) return;
  e.preventDefault();
  drag = { start: stageCoords(e), button: e.button, shift: e.shiftKey, moved: false };
});
promptCanvas.addEventListener('mousemove', (e) => {
  if (!drag || drag.button !== 0) return;
  const [x, y] = stageCoords(e);
  const [x0, y0] = drag.start;
  const threshold = 5 * promptCanvas.width / promptCanvas.getBoundingClientRect().width;
  if (Math.abs(x - x0) > threshold || Math.abs(y - y0) > threshold) drag.moved = true;
  if (drag.moved) drawPrompts([Math.min(x0, x), Math.min(y0, y), Math.max(x0, x), Math.max(y0, y)]);
});
window.addEventListener('mouseup', (e) => {
  if (!drag) return;
  const d = drag;
  drag = null;
  const [x, y] = stageCoords(e);
  if (d.moved) {
    const [x0, y0] = d.start;
    seg.prompts.push({ type: 'box', box: [Math.min(x0, x), Math.min(y0, y), Math.max(x0, x), Math.max(y0, y)] });
  } else {
    const [px, py] = d.start;
    seg.prompts.push({ type: 'point', x: px, y: py, label: d.button === 2 || d.shift ? 0 : 1 });
  }
  drawPrompts();
  updateButtons();
  predict();
});

$('seg-undo').addEventListener('click', () => { seg.prompts.pop(); drawPrompts(); predict(); });
$('seg-clear').addEventListener('click', () => { seg.prompts = []; drawPrompts(); predict(); });
$('seg-dl-prompts').addEventListener('click', () => {
  const json = JSON.stringify({ image: seg.file ? seg.file.name : null, width: seg.image.width,
    height: seg.image.height, ...promptRequest(), chosen_mask: seg.chosen,
    scores: seg.result ? seg.result.scores : [] }, null, 2);
  downloadBlob(new Blob([json], { type: 'application/json' }), 'prompts.json');
});

// ---- Personalise ------------------------------------------------------
const per = window.persamPersonalize = { reference: null, targets: [], result: null };

function perStatus(id, text) { $(id).textContent = text; }

async function showReference(imageSource, mask, width, height) {
  const canvas = $('ref-preview');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(await loadBitmap(imageSource), 0, 0, width, height);
  const overlay = document.createElement('canvas');
  paintMask(overlay, mask, width, height);
  ctx.drawImage(overlay, 0, 0);
}

function updateRun() {
  $('run-personalize').disabled = !(per.reference && per.targets.length);
}

$('ref-from-segment').addEventListener('click', async () => {
  if (!seg.result) { perStatus('ref-status', 'segment an object in the Segment tab first'); return; }
  per.reference = { image: seg.image.id, result: seg.result.result, index: seg.chosen };
  await showReference($('image-canvas').toDataURL(), seg.masks[seg.chosen], seg.image.width, seg.image.height);
  perStatus('ref-status', 'reference: the Segment tab\'s image and mask');
  updateRun();
});

async function uploadReference() {
  const imageFile = $('ref-image').files[0];
  const maskFile = $('ref-mask').files[0];
  if (!imageFile || !maskFile) return;
  try {
    const image = await uploadImage(imageFile, (s) => perStatus('ref-status', s));
    const maskBytes = new Uint8Array(await maskFile.arrayBuffer());
    let binary = '';
    for (let i = 0; i < maskBytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, maskBytes.subarray(i, i + 0x8000));
    }
    const maskImg = await loadBitmap(URL.createObjectURL(maskFile));
    const c = document.createElement('canvas');
    c.width = image.width;
    c.height = image.height;
    c.getContext('2d').drawImage(maskImg, 0, 0, image.width, image.height);
    const data = c.getContext('2d').getImageData(0, 0, image.width, image.height).data;
    const mask = new Uint8Array(image.width * image.height);
    for (let i = 0; i < mask.length; ++i) mask[i] = data[4 * i] || data[4 * i + 1] || data[4 * i + 2] ? 1 : 0;
    per.reference = { image: image.id, mask_png: btoa(binary) };
    await showReference(URL.createObjectURL(imageFile), mask, image.width, image.height);
    perStatus('ref-status', `reference: ${imageFile.name} with ${maskFile.name}`);
  } catch (e) {
    perStatus('ref-status', 'error: ' + e.message);
  }
  updateRun();
}
$('ref-image').addEventListener('change', uploadReference);
$('ref-mask').addEventListener('change', uploadReference);

$('targets').addEventListener('change', async (e) => {
  per.targets = [];
  updateRun();
  const files = [...e.target.files];
  try {
    for (const [i, file] of files.entries()) {
      const image = await uploadImage(file, (s) => perStatus('targets-status', `${i + 1}/${files.length}: ${s}`));
      per.targets.push({ ...image, file });
    }
    perStatus('targets-status', `${per.targets.length} target image(s) ready`);
  } catch (err) {
    perStatus('targets-status', 'error: ' + err.message);
  }
  updateRun();
});

$('run-personalize').addEventListener('click', async () => {
  const method = document.querySelector('input[name=method]:checked').value;
  $('run-personalize').disabled = true;
  perStatus('run-status', method === 'persam_f' ? 'fine-tuning and segmenting...' : 'segmenting...');
  const start = performance.now();
  try {
    const r = await postJson('/api/personalize',
                             { reference: per.reference, targets: per.targets.map((t) => t.id), method });
    per.result = r;
    const results = $('results');
    results.textContent = '';
    for (const t of r.targets) {
      const target = per.targets[t.index];
      const fig = document.createElement('figure');
      const canvas = document.createElement('canvas');
      canvas.width = t.width;
      canvas.height = t.height;
      const ctx = canvas.getContext('2d');
      ctx.drawImage(await loadBitmap(URL.createObjectURL(target.file)), 0, 0, t.width, t.height);
      const overlay = document.createElement('canvas');
      paintMask(overlay, await decodeMaskPng(t.mask, t.width, t.height), t.width, t.height);
      ctx.drawImage(overlay, 0, 0);
      const radius = Math.max(5, Math.min(t.width, t.height) / 60);
      for (const p of t.prior_points) drawPoint(ctx, p.x, p.y, p.label === 1, radius);
      const caption = document.createElement('figcaption');
      const name = document.createElement('span');
      name.textContent = `${target.file.name}: ${t.mask_area} px` + (t.warnings.length ? ' (warning)' : '');
      name.title = t.warnings.join('\n');
      const link = document.createElement('a');
      link.className = 'button';
      link.href = `/api/results/${r.result}/masks/${t.index}.png`;
      link.download = target.file.name.replace(/\.[^.]*$/, '') + '_mask.png';
      link.textContent = 'Mask PNG';
      caption.append(name, link);
      fig.append(canvas, caption);
      results.appendChild(fig);
    }
    $('dl-zip').disabled = false;
    perStatus('run-status', `${r.method}: ${r.targets.length} image(s) in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  } catch (e) {
    perStatus('run-status', 'error: ' + e.message);
  }
  updateRun();
});

// A zip of stored (uncompressed) entries: the PNGs are compressed already,
// and the format needs only a CRC-32 and fixed headers.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; ++n) {
    let c = n;
    for (let k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function makeZip(files) {  // [{name, bytes: Uint8Array}]
  const parts = [];
  const central = [];
  let offset = 0;
  const enc = new TextEncoder();
  for (const f of files) {
    const name = enc.encode(f.name);
    const crc = crc32(f.bytes);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, f.bytes.length, true);
    local.setUint32(22, f.bytes.length, true);
    local.setUint16(26, name.length, true);
    parts.push(local, name, f.bytes);
    const entry = new DataView(new ArrayBuffer(46));
    entry.setUint32(0, 0x02014b50, true);
    entry.setUint16(4, 20, true);
    entry.setUint16(6, 20, true);
    entry.setUint32(16, crc, true);
    entry.setUint32(20, f.bytes.length, true);
    entry.setUint32(24, f.bytes.length, true);
    entry.setUint16(28, name.length, true);
    entry.setUint32(42, offset, true);
    central.push(entry, name);
    offset += 30 + name.length + f.bytes.length;
  }
  const size = central.reduce((n, p) => n + p.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, files.length, true);
  end.setUint16(10, files.length, true);
  end.setUint32(12, size, true);
  end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], { type: 'application/zip' });
}

$('dl-zip').addEventListener('click', () => {
  const r = per.result;
  if (!r) return;
  const files = r.targets.map((t) => ({
    // Indexed: two targets may share a file name.
    name: `${String(t.index).padStart(2, '0')}_` + per.targets[t.index].file.name.replace(/\.[^.]*$/, '') + '_mask.png',
    bytes: Uint8Array.from(atob(t.mask), (ch) => ch.charCodeAt(0)),
  }));
  downloadBlob(makeZip(files), 'masks.zip');
});
