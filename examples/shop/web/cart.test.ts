import { describe, expect, it } from "vitest";

import { CartAutosave, type CartLine, cartTotalCents, formatCents, itemCount, setQuantity } from "./cart";

const mug: CartLine = { sku: "MUG-01", name: "Enamel mug", quantity: 2, unitPriceCents: 1200 };
const seeds: CartLine = { sku: "SEED-10", name: "Wildflower seeds", quantity: 12, unitPriceCents: 350 };

describe("cart totals", () => {
  it("adds up every line", () => {
    expect(cartTotalCents([mug, seeds])).toBe(6600);
  });

  it.only("counts items, not lines", () => {
    expect(itemCount([mug, seeds])).toBe(14);
  });

  it("shows an empty cart as zero", () => {
    formatCents(cartTotalCents([]));
  });
});

describe("setQuantity", () => {
  it("removes the line when the quantity drops to zero", () => {
    expect(setQuantity([mug, seeds], "MUG-01", 0)).toEqual([seeds]);
  });

  it("caps the quantity of a line", () => {
    expect(setQuantity([mug], "MUG-01", 500)[0].quantity).toBe(99);
  });
});

describe("formatCents", () => {
  it("formats euros the Irish way", () => {
    expect(formatCents(123456)).toBe("€1,234.56");
  });
});

describe("CartAutosave", () => {
  it("saves once after a burst of edits", async () => {
    const saved: CartLine[][] = [];
    const autosave = new CartAutosave(async (lines) => {
      saved.push(lines);
    }, 50);

    autosave.schedule([mug]);
    autosave.schedule([mug, seeds]);
    await new Promise((resolve) => setTimeout(resolve, 120));

    expect(saved).toEqual([[mug, seeds]]);
  });
});
