// The storefront's mini-cart: totals, quantity changes and autosave.
// Prices are integer cents, as on the server; only formatting divides by 100.

export interface CartLine {
  sku: string;
  name: string;
  quantity: number;
  unitPriceCents: number;
}

export const MAX_QUANTITY_PER_LINE = 99;

export function lineTotalCents(line: CartLine): number {
  return line.quantity * line.unitPriceCents;
}

export function cartTotalCents(lines: readonly CartLine[]): number {
  return lines.reduce((total, line) => total + lineTotalCents(line), 0);
}

export function itemCount(lines: readonly CartLine[]): number {
  return lines.reduce((count, line) => count + line.quantity, 0);
}

export function setQuantity(lines: readonly CartLine[], sku: string, quantity: number): CartLine[] {
  if (quantity <= 0) {
    return lines.filter((line) => line.sku !== sku);
  }
  const capped = Math.min(quantity, MAX_QUANTITY_PER_LINE);
  return lines.map((line) => (line.sku === sku ? { ...line, quantity: capped } : line));
}

export function formatCents(cents: number, currency = "EUR", locale = "en-IE"): string {
  return new Intl.NumberFormat(locale, { style: "currency", currency }).format(cents / 100);
}

/** Saves the cart once the shopper stops clicking, instead of once per click. */
export class CartAutosave {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pending: CartLine[] | undefined;

  constructor(
    private readonly save: (lines: CartLine[]) => Promise<void>,
    private readonly waitMs = 300,
  ) {}

  schedule(lines: CartLine[]): void {
    this.pending = lines;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), this.waitMs);
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const lines = this.pending;
    this.pending = undefined;
    if (lines !== undefined) {
      await this.save(lines);
    }
  }
}
