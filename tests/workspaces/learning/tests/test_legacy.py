import unittest

from shop.cart import count


class CountTest(unittest.TestCase):
    def test_count_of_one_item(self):
        self.assertEqual(count([{"price": 1}]), 1)
