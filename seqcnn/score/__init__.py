"""seqcnn.score"""
