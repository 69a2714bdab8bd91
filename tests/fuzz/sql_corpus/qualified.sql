select * from public.t where k = 'it''s' -- t
