// Loading what an input shows: an image (decoded before it is put on screen), a video (first
// frame ready), or text. Used for the item on screen and for the prefetched next ones.

export type Media =
  | { kind: "image"; el: HTMLImageElement; width: number; height: number }
  | { kind: "video"; el: HTMLVideoElement; width: number; height: number; duration: number }
  | { kind: "text"; text: string; url?: string }
  | { kind: "none"; reason: string };

export async function loadMedia(data: any): Promise<Media> {
  const image = data?.image?.url;
  const video = data?.video?.url;
  if (image) {
    const el = new Image();
    el.decoding = "async";
    el.src = image;
    try {
      await el.decode();
    } catch {
      return { kind: "none", reason: `The image could not be loaded from ${image}.` };
    }
    return { kind: "image", el, width: el.naturalWidth, height: el.naturalHeight };
  }
  if (video) {
    const el = document.createElement("video");
    el.muted = true;
    el.preload = "auto";
    el.playsInline = true;
    el.src = video;
    const ok = await new Promise<boolean>((resolve) => {
      el.addEventListener("loadeddata", () => resolve(true), { once: true });
      el.addEventListener("error", () => resolve(false), { once: true });
    });
    if (!ok) return { kind: "none", reason: `The video could not be loaded from ${video}.` };
    return { kind: "video", el, width: el.videoWidth, height: el.videoHeight, duration: await durationOf(el) };
  }
  if (data?.text?.raw || data?.text?.url) return { kind: "text", text: data.text.raw ?? "", url: data.text.url };
  return { kind: "none", reason: "This input has no image, video or text to show." };
}

export function seek(el: HTMLVideoElement, seconds: number): Promise<void> {
  return new Promise((resolve) => {
    if (Math.abs(el.currentTime - seconds) < 1e-3) return resolve();
    el.addEventListener("seeked", () => resolve(), { once: true });
    el.currentTime = seconds;
  });
}

/** A video's length in seconds. Files without it in their header (e.g. WebM made by MediaRecorder)
 * report Infinity until the browser has seen the end: seek far ahead once to learn it. */
async function durationOf(el: HTMLVideoElement): Promise<number> {
  if (Number.isFinite(el.duration)) return el.duration;
  await new Promise<void>((resolve) => {
    const done = () => {
      if (Number.isFinite(el.duration)) {
        el.removeEventListener("durationchange", done);
        resolve();
      }
    };
    el.addEventListener("durationchange", done);
    el.currentTime = 1e9;
    setTimeout(resolve, 3000);
  });
  await seek(el, 0);
  return Number.isFinite(el.duration) ? el.duration : 0;
}
