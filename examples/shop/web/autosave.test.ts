import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { CartAutosave, type CartLine } from "./cart";

const kettle: CartLine = { sku: "KETTLE-02", name: "Stovetop kettle", quantity: 1, unitPriceCents: 4500 };

describe("CartAutosave with fake timers", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("waits for the whole delay before saving", async () => {
    const save = vi.fn(async (_lines: CartLine[]) => {});
    const autosave = new CartAutosave(save, 300);

    autosave.schedule([kettle]);
    await vi.advanceTimersByTimeAsync(299);
    expect(save).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);

    expect(save).toHaveBeenCalledWith([kettle]);
  });

  it("saves straight away when flushed, for example before the page unloads", async () => {
    const save = vi.fn(async (_lines: CartLine[]) => {});
    const autosave = new CartAutosave(save, 300);

    autosave.schedule([kettle]);
    await autosave.flush();

    expect(save).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(save).toHaveBeenCalledTimes(1);
  });
});
