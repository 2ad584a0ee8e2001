INSERT INTO sales (day, amount) VALUES (date('now'), 10.5), (date('now'), 4.5);
SELECT day, SUM(amount) AS total FROM sales GROUP BY day;
