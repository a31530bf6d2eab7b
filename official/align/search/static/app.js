// Copyright 2026 The ALIGN-TF Authors. Licensed under the Apache License 2.0.
// The search page's script: builds a query from the text box, the dropped
// image (or a clicked result) and the weight sliders, sends it to
// /api/search (GET, or POST with the uploaded file) and shows the results.
// Plain browser JavaScript, no build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  // The image part of the query: {file, url} for an upload, {id, url} for a
  // clicked result, or null.
  let queryImage = null;
  // Number of the latest query; answers to older ones are dropped.
  let latest = 0;

  function showStatus(message, isError) {
    $("status").textContent = message;
    $("status").classList.toggle("error", Boolean(isError));
  }

  function showQueryImage(url) {
    $("query-image").src = url;
    $("query-image").hidden = false;
    $("drop-hint").hidden = true;
    $("clear-image").hidden = false;
  }

  function clearImage() {
    if (queryImage && queryImage.file) URL.revokeObjectURL(queryImage.url);
    queryImage = null;
    $("image-file").value = "";
    $("query-image").hidden = true;
    $("query-image").removeAttribute("src");
    $("drop-hint").hidden = false;
    $("clear-image").hidden = true;
  }

  function useFile(file) {
    if (!file) return;
    clearImage();
    queryImage = {file, url: URL.createObjectURL(file)};
    showQueryImage(queryImage.url);
    search();
  }

  function useResult(result) {
    clearImage();
    queryImage = {id: result.id, url: result.thumbnail};
    showQueryImage(result.thumbnail);
    search();
  }

  function queryFields() {
    const fields = {
      image_weight: $("image-weight").value,
      text_weight: $("text-weight").value,
      top_k: $("top-k").value,
    };
    const text = $("text").value;
    if (text.trim()) fields.text = text;
    if (queryImage && queryImage.id !== undefined) {
      fields.image_id = queryImage.id;
    }
    return fields;
  }

  async function search() {
    const seq = ++latest;
    const fields = queryFields();
    $("results").dataset.state = "loading";
    let response;
    try {
      if (queryImage && queryImage.file) {
        const form = new FormData();
        for (const [name, value] of Object.entries(fields)) {
          form.append(name, value);
        }
        form.append("image", queryImage.file);
        response = await fetch("/api/search", {method: "POST", body: form});
      } else {
        const params = new URLSearchParams(fields);
        response = await fetch("/api/search?" + params.toString());
      }
      const body = await response.json();
      if (seq !== latest) return;
      if (!response.ok) throw new Error(body.error || response.statusText);
      render(body, seq);
    } catch (error) {
      if (seq !== latest) return;
      showStatus(error.message, true);
      $("results").dataset.state = "error";
      $("results").dataset.seq = String(seq);
    }
  }

  function render(body, seq) {
    const grid = $("results");
    grid.replaceChildren();
    for (const result of body.results) {
      const figure = document.createElement("figure");
      figure.className = "result";
      figure.dataset.id = result.id;
      figure.dataset.rank = String(result.rank);
      figure.dataset.score = String(result.score);
      figure.title = result.id + "\nclick: search with this image";
      const img = document.createElement("img");
      img.src = result.thumbnail;
      img.alt = result.caption || result.id;
      img.addEventListener("error", () => figure.classList.add("no-image"));
      const caption = document.createElement("figcaption");
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = `${result.rank}. ${result.score.toFixed(3)}`;
      const text = document.createElement("span");
      text.className = "caption";
      text.textContent = result.caption || result.id;
      caption.append(score, text);
      figure.append(img, caption);
      figure.addEventListener("click", () => useResult(result));
      grid.append(figure);
    }
    const ms = Math.round(1000 * body.seconds);
    showStatus(`${body.count} results (${ms} ms)`, false);
    grid.dataset.state = "done";
    grid.dataset.seq = String(seq);
  }

  function bindSlider(id) {
    const slider = $(id);
    const output = $(id + "-value");
    slider.addEventListener("input", () => { output.textContent = slider.value; });
    slider.addEventListener("change", () => {
      if (queryImage || $("text").value.trim()) search();
    });
  }

  async function loadInfo() {
    try {
      const info = await (await fetch("/api/info")).json();
      $("index-info").textContent =
          `${info.count} images · ${info.model || "model unknown"}`;
      $("top-k").max = info.max_top_k;
      $("top-k").value = info.default_top_k;
      for (const [id, value] of [["image-weight", info.default_image_weight],
                                 ["text-weight", info.default_text_weight]]) {
        $(id).value = value;
        $(id + "-value").textContent = $(id).value;
      }
    } catch (error) {
      showStatus("Cannot reach the server: " + error.message, true);
    }
  }

  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  $("image-file").addEventListener("change", () => useFile($("image-file").files[0]));
  $("clear-image").addEventListener("click", (event) => {
    event.stopPropagation();
    clearImage();
    if ($("text").value.trim()) search();
  });
  const drop = $("drop");
  drop.addEventListener("click", () => $("image-file").click());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") $("image-file").click();
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    useFile(event.dataTransfer.files[0]);
  });
  bindSlider("image-weight");
  bindSlider("text-weight");
  loadInfo().then(() => { document.body.dataset.ready = "true"; });
})();
